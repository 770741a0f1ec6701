//! The counters a service process keeps about itself, served in the Prometheus text format by its
//! ops listener ([`crate::ops`]). One registry per process; every name is listed in [`NAMES`], which
//! the Grafana dashboard and the alert rules in `deploy/` use exactly (a test checks them).
//!
//! Label values come from the code (service, command and stream names, codes), never from a
//! stranger's input, so the label sets stay bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Commands answered, by service, command and outcome (`accepted`, `duplicate` or the refusal's
/// code).
pub const COMMANDS_TOTAL: &str = "buendel_commands_total";
/// Commands refused, by service and code (`unavailable` for a transient failure).
pub const COMMAND_REFUSALS_TOTAL: &str = "buendel_command_refusals_total";
/// How long commands took from request to reply, by service (a histogram in milliseconds).
pub const COMMAND_DURATION_MS: &str = "buendel_command_duration_ms";
/// Messages dead-lettered by a reactor, by source and code.
pub const DEAD_LETTERS_TOTAL: &str = "buendel_dead_letters_total";
/// Messages delivered again (a nak, an ack that did not arrive, a restart), by service and stream.
pub const REDELIVERIES_TOTAL: &str = "buendel_redeliveries_total";
/// Appends refused because the aggregate had moved on (decided again on a fresh load), by stream.
pub const APPEND_CONFLICTS_TOTAL: &str = "buendel_append_conflicts_total";
/// Appends tried again: after a conflict, or a batch the server refused for the moment, by stream.
pub const APPEND_RETRIES_TOTAL: &str = "buendel_append_retries_total";
/// Scrape time: messages of a durable consumer not yet delivered (its lag), by stream and consumer.
pub const CONSUMER_PENDING: &str = "buendel_consumer_pending";
/// Scrape time: messages delivered to a durable consumer and not yet acknowledged.
pub const CONSUMER_ACK_PENDING: &str = "buendel_consumer_ack_pending";
/// Scrape time: messages a durable consumer has had delivered more than once, as the server counts.
pub const CONSUMER_REDELIVERED: &str = "buendel_consumer_redelivered";
/// Scrape time: 1 when the durable consumer is bound and not stalled (see `/readyz`).
pub const CONSUMER_READY: &str = "buendel_consumer_ready";
/// Scrape time: the last sequence of each stream the process reads.
pub const STREAM_LAST_SEQUENCE: &str = "buendel_stream_last_sequence";
/// Scrape time (projector): how many messages of a stream the read models are behind.
pub const PROJECTION_LAG: &str = "buendel_projection_lag";
/// Scrape time (projector): events the projector could not take into the read models, by stream.
pub const QUARANTINED_EVENTS: &str = "buendel_quarantined_events";
/// Scrape time: 1 while the NATS connection is up.
pub const NATS_CONNECTED: &str = "buendel_nats_connected";
/// Scrape time: 1 when the process is ready (what `/readyz` answers).
pub const READY: &str = "buendel_ready";

/// Every series name, with its type and help.
pub const NAMES: [(&str, &str, &str); 16] = [
    (
        COMMANDS_TOTAL,
        "counter",
        "Commands answered, by service, command and outcome.",
    ),
    (
        COMMAND_REFUSALS_TOTAL,
        "counter",
        "Commands refused, by service and code.",
    ),
    (
        COMMAND_DURATION_MS,
        "histogram",
        "Command latency from request to reply, in milliseconds.",
    ),
    (
        DEAD_LETTERS_TOTAL,
        "counter",
        "Messages dead-lettered, by source and code.",
    ),
    (
        REDELIVERIES_TOTAL,
        "counter",
        "Messages delivered again, by service and stream.",
    ),
    (
        APPEND_CONFLICTS_TOTAL,
        "counter",
        "Appends refused because the aggregate moved on, by stream.",
    ),
    (
        APPEND_RETRIES_TOTAL,
        "counter",
        "Appends tried again, by stream.",
    ),
    (
        CONSUMER_PENDING,
        "gauge",
        "Messages not yet delivered to a durable consumer (its lag).",
    ),
    (
        CONSUMER_ACK_PENDING,
        "gauge",
        "Messages delivered to a durable consumer, not yet acknowledged.",
    ),
    (
        CONSUMER_REDELIVERED,
        "gauge",
        "Messages a durable consumer had delivered more than once.",
    ),
    (
        CONSUMER_READY,
        "gauge",
        "1 when the durable consumer is bound and not stalled.",
    ),
    (
        STREAM_LAST_SEQUENCE,
        "gauge",
        "The last sequence of each stream the process reads.",
    ),
    (
        PROJECTION_LAG,
        "gauge",
        "Messages of a stream the read models are behind.",
    ),
    (
        QUARANTINED_EVENTS,
        "gauge",
        "Events the projector could not take into the read models.",
    ),
    (
        NATS_CONNECTED,
        "gauge",
        "1 while the NATS connection is up.",
    ),
    (READY, "gauge", "1 when the process is ready."),
];

/// The upper bounds of [`COMMAND_DURATION_MS`]'s buckets.
pub const DURATION_BUCKETS_MS: [u64; 12] =
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000];

type Labels = Vec<(&'static str, String)>;

/// One histogram: cumulative bucket counts, the sum and the count.
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS_MS.len()],
    sum_ms: u64,
    count: u64,
}

/// The process's counters and histograms.
#[derive(Debug, Default)]
pub struct Registry {
    counters: Mutex<BTreeMap<(&'static str, Labels), u64>>,
    histograms: Mutex<BTreeMap<(&'static str, Labels), Histogram>>,
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

impl Registry {
    /// Adds one to counter `name` with `pairs` as labels.
    pub fn count(&self, name: &'static str, pairs: &[(&'static str, &str)]) {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        *counters.entry((name, labels(pairs))).or_insert(0) += 1;
    }

    /// Observes `ms` in histogram `name`.
    pub fn observe_ms(&self, name: &'static str, pairs: &[(&'static str, &str)], ms: u64) {
        let mut histograms = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let histogram = histograms.entry((name, labels(pairs))).or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(DURATION_BUCKETS_MS) {
            if ms <= bound {
                *bucket += 1;
            }
        }
        histogram.sum_ms = histogram.sum_ms.saturating_add(ms);
        histogram.count += 1;
    }

    /// The value of counter `name` with exactly these labels (0 if never counted).
    pub fn counter(&self, name: &'static str, pairs: &[(&'static str, &str)]) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        counters.get(&(name, labels(pairs))).copied().unwrap_or(0)
    }

    /// Writes every counter and histogram, each family under its `# HELP` and `# TYPE`.
    pub fn render(&self, out: &mut String) {
        let counters = self
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let histograms = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (name, kind, _) in NAMES {
            match kind {
                "counter" => {
                    header(out, name);
                    for ((_, l), value) in counters.iter().filter(|((n, _), _)| *n == name) {
                        sample(out, name, l, &[], *value);
                    }
                }
                "histogram" => {
                    header(out, name);
                    for ((_, l), h) in histograms.iter().filter(|((n, _), _)| *n == name) {
                        let bucket = format!("{name}_bucket");
                        for (count, bound) in h.buckets.iter().zip(DURATION_BUCKETS_MS) {
                            sample(out, &bucket, l, &[("le", bound.to_string())], *count);
                        }
                        sample(out, &bucket, l, &[("le", "+Inf".into())], h.count);
                        sample(out, &format!("{name}_sum"), l, &[], h.sum_ms);
                        sample(out, &format!("{name}_count"), l, &[], h.count);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The process's registry.
pub fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// Adds one to counter `name` of the process's registry.
pub fn count(name: &'static str, pairs: &[(&'static str, &str)]) {
    global().count(name, pairs);
}

/// `# HELP` and `# TYPE` of a family of [`NAMES`].
pub fn header(out: &mut String, name: &str) {
    if let Some((_, kind, help)) = NAMES.iter().find(|(n, _, _)| *n == name) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    }
}

/// One sample line.
pub fn sample(
    out: &mut String,
    name: &str,
    labels: &[(&'static str, String)],
    extra: &[(&'static str, String)],
    value: impl std::fmt::Display,
) {
    let all: Vec<String> = labels
        .iter()
        .chain(extra)
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if all.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{}}} {value}", all.join(","));
    }
}

/// Escapes a label value (`\`, `"` and newlines), as the text format requires.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_the_text_format() {
        let registry = Registry::default();
        registry.count(
            COMMANDS_TOTAL,
            &[("service", "ledger"), ("outcome", "accepted")],
        );
        registry.count(
            COMMANDS_TOTAL,
            &[("service", "ledger"), ("outcome", "accepted")],
        );
        registry.observe_ms(COMMAND_DURATION_MS, &[("service", "ledger")], 7);
        let mut out = String::new();
        registry.render(&mut out);
        assert!(
            out.contains("# TYPE buendel_commands_total counter\n"),
            "{out}"
        );
        assert!(
            out.contains("buendel_commands_total{service=\"ledger\",outcome=\"accepted\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("buendel_command_duration_ms_bucket{service=\"ledger\",le=\"5\"} 0\n"),
            "{out}"
        );
        assert!(
            out.contains("buendel_command_duration_ms_bucket{service=\"ledger\",le=\"10\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("buendel_command_duration_ms_sum{service=\"ledger\"} 7\n"));
        assert!(out.contains("buendel_command_duration_ms_count{service=\"ledger\"} 1\n"));
        assert_eq!(
            registry.counter(
                COMMANDS_TOTAL,
                &[("service", "ledger"), ("outcome", "accepted")]
            ),
            2
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
