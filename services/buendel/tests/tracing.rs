//! One trace across NATS, seen from outside: `buendel up --demo` as its own process with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a collector this test runs; the spans it exports
//! show one trace id at the intake (submission), in the approval's and the ledger's handling, and
//! in the projector, joined by the `traceparent` headers of the events in between.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A minimal OTLP/HTTP collector: every POSTed JSON body, kept.
fn collector() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut raw = Vec::new();
            let mut buffer = [0u8; 65_536];
            let body = loop {
                let Ok(n) = stream.read(&mut buffer) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&buffer[..n]);
                let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or(0);
                if raw.len() >= end + 4 + length {
                    break Some(raw[end + 4..end + 4 + length].to_vec());
                }
            };
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Some(body) = body.and_then(|b| serde_json::from_slice(&b).ok()) {
                if let Ok(mut bodies) = kept.lock() {
                    bodies.push(body);
                }
            }
        }
    });
    (url, bodies)
}

/// `(trace id, span name, service attribute)` of every span received.
fn spans(bodies: &[Value]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for body in bodies {
        for resource in body["resourceSpans"].as_array().into_iter().flatten() {
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let service = span["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|a| a["key"] == "service")
                        .and_then(|a| a["value"]["stringValue"].as_str())
                        .unwrap_or_default();
                    out.push((
                        span["traceId"].as_str().unwrap_or_default().to_owned(),
                        span["name"].as_str().unwrap_or_default().to_owned(),
                        service.to_owned(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn one_trace_id_follows_a_proposal_from_the_intake_through_every_service_to_the_projector() {
    // Given the whole system as one process, exporting its spans to our collector
    let (collector_url, bodies) = collector();
    let nats_url = buendel_testing::nats_url();
    let namespace = buendel_testing::fresh_namespace();
    let database_url = "postgres://postgres@127.0.0.1:5432";
    let _guard = buendel_testing::NamespaceGuard::new(&nats_url, namespace.clone())
        .with_database(database_url);
    let http = format!("127.0.0.1:{}", buendel_testing::free_port());
    let log_path = std::env::temp_dir().join(format!("buendel-tracing-{}.log", namespace.as_str()));
    let log = std::fs::File::create(&log_path).expect("a log file");
    let mut system = Command::new(env!("CARGO_BIN_EXE_buendel"))
        .args(["up", "--demo", "--http", &http])
        .env("NATS_URL", &nats_url)
        .env("DATABASE_URL", database_url)
        .env("BUENDEL_NAMESPACE", namespace.as_str())
        .env("BUENDEL_CLOCK", buendel_testing::test_date().to_string())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector_url)
        .env("OTEL_SERVICE_NAME", "buendel-test")
        .env("RUST_LOG", "info")
        .env("BUENDEL_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("buendel up starts");

    // When the demo's proposals go through intake, review and the ledger, then some trace holds
    // the intake, the approval's and the ledger's handling and the projector
    let wanted: BTreeSet<(&str, &str)> = [
        ("intake", "submission"),
        ("react", "approval"),
        ("react", "ledger"),
        ("project", "projector"),
    ]
    .into();
    let deadline = Instant::now() + Duration::from_secs(90);
    let found = loop {
        let received = bodies.lock().map(|b| b.clone()).unwrap_or_default();
        let mut by_trace: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
        for (trace, name, service) in spans(&received) {
            by_trace.entry(trace).or_default().insert((name, service));
        }
        let full = by_trace.iter().find(|(_, seen)| {
            wanted
                .iter()
                .all(|(name, service)| seen.contains(&((*name).to_owned(), (*service).to_owned())))
        });
        if let Some((trace, seen)) = full {
            break Some((trace.clone(), seen.clone()));
        }
        if Instant::now() > deadline || system.try_wait().ok().flatten().is_some() {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = system.kill();
    let _ = system.wait();
    let (trace, seen) = found.unwrap_or_else(|| {
        let received = bodies.lock().map(|b| b.clone()).unwrap_or_default();
        let kinds: BTreeSet<(String, String)> = spans(&received)
            .into_iter()
            .map(|(_, name, service)| (name, service))
            .collect();
        panic!("no trace holds all of {wanted:?}; span kinds seen: {kinds:?}")
    });
    eprintln!("trace {trace}: {seen:?}");
    assert_eq!(trace.len(), 32, "a W3C trace id: {trace}");
    assert!(trace.bytes().all(|b| b.is_ascii_hexdigit()), "{trace}");
    assert!(seen.len() >= wanted.len(), "{seen:?}");
    // And the JSON logs name the trace on the lines logged inside its spans
    let logs = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    let traced = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["span"]["trace_id"] == trace.as_str())
        .count();
    assert!(traced > 0, "no JSON log line carries trace {trace}");
}
