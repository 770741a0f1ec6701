//! Every service observable: each process's ops listener serves `/healthz`, `/readyz` and the named
//! series on `/metrics`; a stalled or missing consumer makes `/readyz` fail.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use uuid::Uuid;

use buendel::system::{Parts, System};
use buendel_contract::commands::AllocateBudget;
use buendel_contract::namespace::StreamKind;
use buendel_contract::Cents;
use buendel_runtime::metrics;
use buendel_runtime::{connect, CancellationToken, EventStore, Settings};

use crate::helpers::{eventually, fresh_namespace, submitted_event, test_settings, TestApp};

/// `GET path` on `addr` over HTTP/1.1; the status and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn each_service_serves_its_health_readiness_and_the_named_series() {
    let ns = fresh_namespace();
    let settings = Settings {
        ops_addr: Some(([127, 0, 0, 1], 0).into()),
        ..test_settings(ns.clone())
    };
    // Given each service in a process of its own, each with its ops listener
    let mut systems = Vec::new();
    for parts in [
        Parts {
            submission: true,
            ..Parts::none()
        },
        Parts {
            approval: true,
            ..Parts::none()
        },
        Parts {
            ledger: true,
            ..Parts::none()
        },
        Parts {
            projector: true,
            ..Parts::none()
        },
    ] {
        systems.push(System::start(&settings, parts).await.expect("starts"));
    }
    let addrs: Vec<SocketAddr> = systems.iter().map(|s| s.ops.expect("ops")).collect();
    let app = TestApp::over(&systems[0], settings.clone());
    // When a proposal comes in and the ledger takes a command
    let proposal_id = Uuid::new_v4();
    app.publish_event(&submitted_event(proposal_id)).await;
    let allocation = AllocateBudget {
        fund_id: "non-2021-2027".into(),
        esf_cents: Cents(1_000_000),
        land_cents: Cents(0),
        commit_deadline: chrono::NaiveDate::from_ymd_opt(2027, 12, 31).expect("date"),
    };
    assert!(app.send(&allocation).await.is_ok());

    // Then every process is healthy and ready, and names its consumers
    let stream = |kind| ns.stream(kind);
    let expected: [(&str, Vec<(StreamKind, &str)>); 4] = [
        (
            "submission",
            vec![
                (StreamKind::Intake, "submission_intake"),
                (StreamKind::Reviews, "submission_review"),
            ],
        ),
        (
            "approval",
            vec![(StreamKind::Proposals, "approval_proposal")],
        ),
        ("ledger", vec![(StreamKind::Reviews, "ledger_review")]),
        (
            "projector",
            vec![
                (StreamKind::Proposals, "projector_proposal"),
                (StreamKind::Ledger, "projector_ledger"),
            ],
        ),
    ];
    for ((service, consumers), addr) in expected.iter().zip(&addrs) {
        assert_eq!(get(*addr, "/healthz").await.0, 200, "{service}");
        let (status, body) = eventually("ready", || async {
            let (status, body) = get(*addr, "/readyz").await;
            (status == 200).then_some((status, body))
        })
        .await;
        assert_eq!(status, 200, "{service}: {body}");
        let (_, text) = get(*addr, "/metrics").await;
        for (kind, consumer) in consumers {
            for name in [
                metrics::CONSUMER_PENDING,
                metrics::CONSUMER_ACK_PENDING,
                metrics::CONSUMER_REDELIVERED,
            ] {
                let series = format!(
                    "{name}{{stream=\"{}\",consumer=\"{consumer}\"}}",
                    stream(*kind)
                );
                assert!(text.contains(&series), "{service} lacks {series}:\n{text}");
            }
            let ready = format!(
                "{}{{stream=\"{}\",consumer=\"{consumer}\"}} 1",
                metrics::CONSUMER_READY,
                stream(*kind)
            );
            assert!(text.contains(&ready), "{service}: {ready}\n{text}");
        }
        assert!(text.contains("buendel_nats_connected 1\n"), "{service}");
        assert!(text.contains("buendel_ready 1\n"), "{service}");
        for (name, kind, _) in metrics::NAMES {
            let projection_only = [metrics::PROJECTION_LAG, metrics::QUARANTINED_EVENTS];
            if *service != "projector" && projection_only.contains(&name) {
                continue;
            }
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{service} lacks {name}"
            );
        }
    }
    // And the ledger's command is counted with its outcome and latency
    // (the registry is the process's: other tests in it may have counted too, so at least one)
    let (_, ledger) = get(addrs[2], "/metrics").await;
    let value = |series: &str| -> u64 {
        ledger
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series}:\n{ledger}"))
    };
    let accepted = "buendel_commands_total{service=\"ledger\",command=\"allocate_budget\",outcome=\"accepted\"}";
    assert!(value(accepted) >= 1);
    assert!(value("buendel_command_duration_ms_count{service=\"ledger\"}") >= 1);
    // And the projector reports how far each read model is behind, and its quarantine
    let (_, projector) = get(addrs[3], "/metrics").await;
    for kind in buendel_projector::STREAMS {
        let lag = format!("{}{{stream=\"{}\"}}", metrics::PROJECTION_LAG, stream(kind));
        assert!(projector.contains(&lag), "{lag}\n{projector}");
        let quarantined = format!(
            "{}{{stream=\"{}\"}} 0",
            metrics::QUARANTINED_EVENTS,
            stream(kind)
        );
        assert!(
            projector.contains(&quarantined),
            "{quarantined}\n{projector}"
        );
    }

    for system in systems {
        system.stop().await.expect("stops");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_stalled_or_missing_consumer_makes_readyz_fail() {
    let ns = fresh_namespace();
    let settings = test_settings(ns.clone());
    let client = connect::nats(&settings.nats_url, "ops-test")
        .await
        .expect("NATS");
    let store = EventStore::new(client.clone(), ns.clone());
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams");
    let mut guard = buendel_testing::NamespaceGuard::new(settings.nats_url.clone(), ns.clone());
    // Given a durable consumer nobody reads, with a message waiting for it
    let name = ns.durable("nobody", StreamKind::Proposals);
    let stream = store.stream(StreamKind::Proposals).await.expect("stream");
    stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("consumer");
    store
        .publish(
            &ns.subject(StreamKind::Proposals, Uuid::new_v4()),
            Uuid::new_v4(),
            "{}".into(),
        )
        .await
        .expect("published");
    let ops = buendel_runtime::ops::Ops::new(client.clone(), store.clone())
        .with_durable(StreamKind::Proposals, name.clone())
        .with_stall_ms(300);
    let shutdown = CancellationToken::new();
    let (addr, task) =
        buendel_runtime::ops::serve(([127, 0, 0, 1], 0).into(), Arc::new(ops), shutdown.clone())
            .await
            .expect("listens");
    // When it is first looked at, it has just been seen: ready
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    // Then once its ack floor has not moved for the stall time, it is not
    let body = eventually("the stall is noticed", || async {
        let (status, body) = get(addr, "/readyz").await;
        (status == 503).then_some(body)
    })
    .await;
    assert!(body.contains("stalled: 1 messages waiting"), "{body}");
    let (_, text) = get(addr, "/metrics").await;
    assert!(text.contains("buendel_ready 0\n"), "{text}");
    assert!(
        text.contains(&format!(
            "buendel_consumer_pending{{stream=\"{}\",consumer=\"{name}\"}} 1\n",
            ns.stream(StreamKind::Proposals)
        )),
        "{text}"
    );
    // And a consumer that is not there is not bound
    let missing = buendel_runtime::ops::Ops::new(client.clone(), store.clone())
        .with_durable(StreamKind::Ledger, "ledger_nothing");
    let (ready, body) = missing.readiness().await;
    assert!(!ready);
    assert!(body.to_string().contains("not bound"), "{body}");

    shutdown.cancel();
    task.await.expect("joined").expect("served");
    store.delete_streams().await.expect("deleted");
    guard.disarm();
}

/// The series the API process serves on its own `/metrics` (`services/api/src/metrics.rs`).
const API_SERIES: [&str; 6] = [
    "buendel_http_requests_total",
    "buendel_read_model_up",
    "buendel_projection_checkpoint",
    "buendel_proposals",
    "buendel_dead_letters",
    "buendel_projection_quarantined_events",
];

/// Every `buendel_…` series name in `text`.
fn series_in(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("buendel_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_dashboard_and_the_alerts_use_exactly_the_series_the_processes_serve() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let api_source = include_str!("../../services/api/src/metrics.rs");
    for name in API_SERIES {
        assert!(
            api_source.contains(&format!("\"{name}\"")),
            "the API serves no {name}"
        );
    }
    let known = |name: &str| {
        let histogram = metrics::NAMES
            .iter()
            .filter(|(_, kind, _)| *kind == "histogram")
            .any(|(n, _, _)| {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{n}{s}"))
            });
        histogram || metrics::NAMES.iter().any(|(n, _, _)| *n == name) || API_SERIES.contains(&name)
    };
    let dashboard =
        std::fs::read_to_string(root.join("deploy/grafana-dashboard.json")).expect("dashboard");
    let _: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    for file in ["deploy/alerts.yml", "deploy/grafana-dashboard.json"] {
        let text = std::fs::read_to_string(root.join(file)).expect(file);
        let names = series_in(&text);
        assert!(!names.is_empty(), "{file} names no series");
        for name in names {
            assert!(known(&name), "{file} uses {name}, which no process serves");
        }
    }
    // And the dashboard shows every series the services serve
    let shown = series_in(&dashboard);
    for (name, kind, _) in metrics::NAMES {
        let name = if kind == "histogram" {
            format!("{name}_bucket")
        } else {
            name.to_owned()
        };
        assert!(shown.contains(&name), "the dashboard does not show {name}");
    }
}
