//! Optional OpenTelemetry export of the handling spans ([`crate::trace`]) over OTLP/HTTP with JSON
//! bodies, to a collector named by the standard environment:
//!
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the whole URL, e.g. `http://127.0.0.1:4318/v1/traces`),
//!   or `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://127.0.0.1:4318`, to which `/v1/traces` is added);
//! - `OTEL_SERVICE_NAME` (default `buendel`), the resource's `service.name`.
//!
//! Unset, nothing is exported and nothing is paid. Only spans with a `trace_id` field are exported
//! (the `intake`, `command`, `react` and `project` spans); their fields become attributes. A
//! background thread sends them in batches of at most [`BATCH_MAX`] or every [`FLUSH_MS`] ms;
//! the queue holds at most [`QUEUE_MAX`] spans and drops beyond it, so a collector that is down
//! never slows a service or grows its memory. Plain `http://` only: run the collector beside the
//! service (a sidecar or the node's agent) and let it forward over TLS.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Spans per request at most.
pub const BATCH_MAX: usize = 256;
/// A batch goes out at least this often.
pub const FLUSH_MS: u64 = 500;
/// Spans waiting at most; more are dropped.
pub const QUEUE_MAX: usize = 8_192;
/// How long one request may take.
const REQUEST_TIMEOUT_MS: u64 = 5_000;

/// Where spans go: host, port and path of a plain-HTTP collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// Port (default 80).
    pub port: u16,
    /// Request path (`/v1/traces`).
    pub path: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/path]`; `base` adds `/v1/traces` to the path.
    pub fn parse(url: &str, base: bool) -> Result<Self, String> {
        let rest = url
            .trim()
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: only http:// collectors are supported"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("{url:?}: {port:?} is not a port"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let path = if base {
            format!("{}/v1/traces", path.trim_end_matches('/'))
        } else if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// From the environment, if it names one.
    pub fn from_env() -> Option<Result<Self, String>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(url) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            return Some(Self::parse(&url, false));
        }
        var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|url| Self::parse(&url, true))
    }
}

/// One finished span.
#[derive(Debug, Clone)]
struct Finished {
    name: &'static str,
    start_ns: u128,
    end_ns: u128,
    fields: BTreeMap<&'static str, String>,
}

/// What a span collects while it is open.
struct Open {
    start_ns: u128,
    fields: BTreeMap<&'static str, String>,
}

struct Visitor<'a>(&'a mut BTreeMap<&'static str, String>);

impl tracing::field::Visit for Visitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Whether this process exports spans (set once, when the layer is made).
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True once an [`OtlpLayer`] exists in this process: hot paths that make a span per event (the
/// projector's) make them only then.
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The layer: records the handling spans and hands the finished ones to the exporter thread.
pub struct OtlpLayer {
    queue: SyncSender<Finished>,
}

impl OtlpLayer {
    /// A layer that exports to `endpoint` as `service_name`, with its thread.
    pub fn new(endpoint: Endpoint, service_name: String) -> Self {
        let (queue, spans) = mpsc::sync_channel(QUEUE_MAX);
        EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || export_loop(&endpoint, &service_name, &spans));
        if let Err(error) = spawned {
            eprintln!("OTLP export disabled: its thread did not start: {error}");
        }
        Self { queue }
    }

    /// The layer the environment asks for, if any; a malformed endpoint is reported on standard
    /// error and exports nothing.
    pub fn from_env() -> Option<Self> {
        match Endpoint::from_env()? {
            Ok(endpoint) => {
                let name = std::env::var("OTEL_SERVICE_NAME")
                    .ok()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| "buendel".to_owned());
                Some(Self::new(endpoint, name))
            }
            Err(error) => {
                eprintln!("OTLP export disabled: {error}");
                None
            }
        }
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().fields().field("trace_id").is_none() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = BTreeMap::new();
        attrs.record(&mut Visitor(&mut fields));
        span.extensions_mut().insert(Open {
            start_ns: now_ns(),
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(open) = span.extensions_mut().get_mut::<Open>() {
                values.record(&mut Visitor(&mut open.fields));
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        if !open.fields.contains_key("trace_id") {
            return;
        }
        // A full queue drops the span: export never blocks a service.
        let _ = self.queue.try_send(Finished {
            name: span.metadata().name(),
            start_ns: open.start_ns,
            end_ns: now_ns(),
            fields: open.fields,
        });
    }
}

/// The OTLP/JSON body of a batch.
fn body(service_name: &str, spans: &[Finished]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|span| {
            let mut out = json!({
                "traceId": span.fields.get("trace_id").cloned().unwrap_or_default(),
                "spanId": span.fields.get("span_id").cloned().unwrap_or_default(),
                "name": span.name,
                "kind": 1,
                "startTimeUnixNano": span.start_ns.to_string(),
                "endTimeUnixNano": span.end_ns.to_string(),
                "attributes": span
                    .fields
                    .iter()
                    .filter(|(key, _)| !matches!(**key, "trace_id" | "span_id" | "parent_span_id"))
                    .map(|(key, value)| json!({"key": key, "value": {"stringValue": value}}))
                    .collect::<Vec<_>>(),
            });
            if let Some(parent) = span.fields.get("parent_span_id") {
                out["parentSpanId"] = json!(parent);
            }
            out
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": service_name}}
        ]},
        "scopeSpans": [{"scope": {"name": "buendel"}, "spans": spans}],
    }]})
}

fn export_loop(endpoint: &Endpoint, service_name: &str, spans: &Receiver<Finished>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    loop {
        match spans.recv_timeout(Duration::from_millis(FLUSH_MS)) {
            Ok(span) => {
                batch.push(span);
                if batch.len() < BATCH_MAX {
                    continue;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if !batch.is_empty() {
                    let _ = post(endpoint, &body(service_name, &batch));
                }
                return;
            }
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(error) = post(endpoint, &body(service_name, &batch)) {
            // The batch is dropped: spans are diagnostics, not records.
            eprintln!(
                "OTLP export to {}:{} failed: {error}",
                endpoint.host, endpoint.port
            );
        }
        batch.clear();
    }
}

/// One POST; a status other than 2xx is an error.
fn post(endpoint: &Endpoint, body: &Value) -> std::io::Result<()> {
    let payload = body.to_string();
    let address = format!("{}:{}", endpoint.host, endpoint.port);
    let timeout = Duration::from_millis(REQUEST_TIMEOUT_MS);
    let socket = std::net::ToSocketAddrs::to_socket_addrs(&address)?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{address} does not resolve")))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "POST {} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        endpoint.path,
        payload.len()
    )?;
    let mut status = [0u8; 12];
    stream.read_exact(&mut status)?;
    let line = String::from_utf8_lossy(&status);
    if line.get(9..10) == Some("2") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "the collector answered {line:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_read_as_the_opentelemetry_environment_names_them() {
        let base = Endpoint::parse("http://collector:4318", true).expect("valid");
        assert_eq!(
            (base.host.as_str(), base.port, base.path.as_str()),
            ("collector", 4318, "/v1/traces")
        );
        let whole = Endpoint::parse("http://127.0.0.1:9/otlp/v1/traces", false).expect("valid");
        assert_eq!(whole.path, "/otlp/v1/traces");
        assert_eq!(Endpoint::parse("http://x/", true).map(|e| e.port), Ok(80));
        assert!(Endpoint::parse("https://x:4318", true).is_err());
        assert!(Endpoint::parse("http://:4318", true).is_err());
        assert!(Endpoint::parse("http://x:port", true).is_err());
    }

    #[test]
    fn a_span_becomes_an_otlp_span_with_its_ids_and_fields() {
        let span = Finished {
            name: "command",
            start_ns: 1,
            end_ns: 2,
            fields: [
                ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736".to_owned()),
                ("span_id", "00f067aa0ba902b7".to_owned()),
                ("parent_span_id", "00f067aa0ba902b8".to_owned()),
                ("service", "approval".to_owned()),
            ]
            .into(),
        };
        let body = body("buendel-approval", &[span]);
        let out = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(out["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(out["parentSpanId"], "00f067aa0ba902b8");
        assert_eq!(out["startTimeUnixNano"], "1");
        assert_eq!(
            out["attributes"],
            json!([{"key": "service", "value": {"stringValue": "approval"}}])
        );
        assert_eq!(
            body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "buendel-approval"
        );
    }
}
