//! One place that sets up `tracing`.

use crate::settings::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (a second call is a no-op, so tests may call it freely).
/// The filter comes from `RUST_LOG`, default `info`. Logs go to standard error, so standard output
/// stays clean for what a command prints (JSON reports, replies). JSON lines carry the fields of
/// the span they were logged in (`span`, `spans`), the trace id of a handling among them
/// ([`crate::trace`]). With `OTEL_EXPORTER_OTLP_ENDPOINT` set the handling spans are exported too
/// ([`crate::otlp`]).
pub fn init(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let otlp = crate::otlp::OtlpLayer::from_env();
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(otlp);
    let _already_set = match format {
        LogFormat::Text => registry.with(fmt).try_init(),
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).try_init(),
    };
}
