//! W3C Trace Context across NATS: every message a service stores carries a `traceparent` header
//! (`00-<trace id>-<span id>-01`), and whoever handles a message continues its trace, so one trace
//! follows a proposal from the intake through submission, approval, the ledger and the projector.
//!
//! - **Where a trace starts or continues**: a command continues the `traceparent` of its request, an
//!   intake message or a consumed event the one in its headers ([`from_headers`]); without one a new
//!   trace starts. A command that brings none and acts on an aggregate whose last event has a trace
//!   *adopts* that trace ([`adopt`]): the votes and the statement on a review continue the trace
//!   its opening began at the intake, and so does the ledger's booking that reacts to them.
//! - **How it flows**: the handler runs inside [`within`], which makes the context the task's
//!   current one ([`current`]); [`crate::EventStore::append`] writes it into every event's headers.
//! - **What is recorded**: each handling is a `tracing` span carrying `trace_id`, `span_id` and
//!   `parent_span_id` fields ([`span`]); JSON logs show them on every line logged inside, and with
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` set the spans are exported over OTLP/HTTP ([`crate::otlp`]).
//!
//! The trace is operational metadata: it is in the headers, never in an event's body, so it is in
//! no hash chain and no audit depends on it.

use std::cell::Cell;
use std::fmt;
use std::future::Future;

/// The header that carries the context, as W3C names it.
pub const HEADER: &str = "traceparent";

/// One span's place in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace, 16 bytes, never zero.
    pub trace_id: u128,
    /// The span that is running (and that stored messages name as their parent).
    pub span_id: u64,
    /// The span this one continues; 0 for the root of a trace.
    pub parent_span_id: u64,
}

/// A random non-zero id.
fn random_u128() -> u128 {
    loop {
        let id = uuid::Uuid::new_v4().as_u128();
        if id != 0 {
            return id;
        }
    }
}

fn random_u64() -> u64 {
    loop {
        // Truncation keeps the low 64 bits, which are random in a v4 UUID but for 2 variant bits.
        let id = uuid::Uuid::new_v4().as_u128() as u64;
        if id != 0 {
            return id;
        }
    }
}

impl TraceContext {
    /// The root span of a new trace.
    pub fn root() -> Self {
        Self {
            trace_id: random_u128(),
            span_id: random_u64(),
            parent_span_id: 0,
        }
    }

    /// A new span in the same trace, a child of this one.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id,
            span_id: random_u64(),
            parent_span_id: self.span_id,
        }
    }

    /// Parses a `traceparent` value (version `00`; an all-zero id is invalid). The result is the
    /// *remote* span: its `span_id` is the parent id the value names.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if version != "00" || parts.next().is_some() || !hex(trace, 32) || !hex(span, 16) {
            return None;
        }
        if !hex(flags, 2) {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        (trace_id != 0 && span_id != 0).then_some(Self {
            trace_id,
            span_id,
            parent_span_id: 0,
        })
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 lower-case hex digits.
    pub fn span_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The parent span id as 16 hex digits, empty for a root.
    pub fn parent_hex(&self) -> String {
        if self.parent_span_id == 0 {
            String::new()
        } else {
            format!("{:016x}", self.parent_span_id)
        }
    }
}

/// The `traceparent` value of this span (sampled).
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{:032x}-{:016x}-01", self.trace_id, self.span_id)
    }
}

/// The remote context in a message's headers, if any (and valid).
pub fn from_headers(headers: Option<&async_nats::HeaderMap>) -> Option<TraceContext> {
    headers?
        .get(HEADER)
        .and_then(|value| TraceContext::parse(value.as_str()))
}

/// The span of one handling that continues `parent` (or starts a trace): a new context and the
/// `tracing` span that records it. `name` is what the handling is (`intake`, `command`, `react`,
/// `project`), `service` who handles it, `operation` what (the command, the subject).
pub fn span(
    name: &'static str,
    service: &str,
    operation: &str,
    parent: Option<TraceContext>,
) -> Handling {
    use tracing::field::Empty;
    let context = parent.map_or_else(TraceContext::root, |p| p.child());
    // A span's name is part of its static metadata, so each kind is its own call site.
    macro_rules! handling {
        ($name:literal) => {
            tracing::info_span!(
                $name,
                service,
                operation,
                trace_id = Empty,
                span_id = Empty,
                parent_span_id = Empty
            )
        };
    }
    let span = match name {
        "intake" => handling!("intake"),
        "command" => handling!("command"),
        "project" => handling!("project"),
        _ => handling!("react"),
    };
    record(&span, &context);
    Handling {
        context,
        adoptable: parent.is_none(),
        span,
    }
}

fn record(span: &tracing::Span, context: &TraceContext) {
    span.record("trace_id", context.trace_hex());
    span.record("span_id", context.span_hex());
    if context.parent_span_id != 0 {
        span.record("parent_span_id", context.parent_hex());
    }
}

/// A handling's context and span.
#[derive(Debug, Clone)]
pub struct Handling {
    /// Its context.
    pub context: TraceContext,
    /// True when it started a trace of its own because nothing came with the input: the first
    /// aggregate it acts on may lend it that aggregate's trace ([`adopt`]).
    pub adoptable: bool,
    /// The span (fields `trace_id`, `span_id`, `parent_span_id`).
    pub span: tracing::Span,
}

struct Current {
    context: Cell<TraceContext>,
    adoptable: Cell<bool>,
    span: tracing::Span,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// Runs `future` with `handling` as the task's current context, inside its span.
pub async fn within<F: Future>(handling: Handling, future: F) -> F::Output {
    use tracing::Instrument as _;
    let span = handling.span.clone();
    CURRENT
        .scope(
            Current {
                context: Cell::new(handling.context),
                adoptable: Cell::new(handling.adoptable),
                span: handling.span,
            },
            future.instrument(span),
        )
        .await
}

/// The task's current context, inside [`within`].
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|c| c.context.get()).ok()
}

/// Lends the current handling the trace of the aggregate it acts on (`aggregate`: the context in
/// the headers of the aggregate's last event), where the handling started a trace only because
/// nothing came with its input. Its span id stays; it becomes a child of that event's span. Once
/// per handling; a no-op outside [`within`].
pub fn adopt(aggregate: Option<TraceContext>) {
    let Some(aggregate) = aggregate else {
        return;
    };
    let _ = CURRENT.try_with(|c| {
        if !c.adoptable.replace(false) {
            return;
        }
        let mut context = c.context.get();
        context.trace_id = aggregate.trace_id;
        context.parent_span_id = aggregate.span_id;
        c.context.set(context);
        record(&c.span, &context);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips_and_malformed_ones_are_ignored() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceContext::parse(value).expect("valid");
        assert_eq!(parsed.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.to_string(), value);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert!(TraceContext::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_child_keeps_the_trace_and_names_its_parent() {
        let root = TraceContext::root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.parent_span_id, root.span_id);
        assert_ne!(child.span_id, root.span_id);
    }

    #[tokio::test]
    async fn a_handling_without_a_trace_adopts_its_aggregates_once_and_one_with_a_trace_never() {
        let aggregate = TraceContext::root();
        let other = TraceContext::root();
        let handling = span("command", "test", "vote", None);
        let own_span = handling.context.span_id;
        within(handling, async {
            adopt(Some(aggregate));
            let now = current().expect("inside");
            assert_eq!(now.trace_id, aggregate.trace_id);
            assert_eq!(now.parent_span_id, aggregate.span_id);
            assert_eq!(now.span_id, own_span);
            adopt(Some(other));
            assert_eq!(current().map(|c| c.trace_id), Some(aggregate.trace_id));
        })
        .await;
        let remote = TraceContext::root();
        within(span("react", "test", "t.x", Some(remote)), async {
            adopt(Some(aggregate));
            assert_eq!(current().map(|c| c.trace_id), Some(remote.trace_id));
        })
        .await;
        assert!(current().is_none());
    }
}
