//! On a three-node cluster with R3 streams: the workload runs while the leader of LEDGER is killed
//! with SIGKILL and restarted; it finishes, the audit verifies, nothing is lost or doubled.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use buendel_contract::commands::{CommandData, IssueStatement, RecordRefusal};
use buendel_contract::namespace::StreamKind;
use buendel_contract::reply::Reply;
use buendel_contract::review::{Verdict, VoteChoice};
use buendel_testing::{NatsCluster, NATS_VERSION};

use crate::helpers::{eventually_within, spawn_all_on, submitted_event, vote, TestApp};
use crate::ledger::allocation;
use crate::review::NON_PARTNERS;

/// NON's fund.
const FUND: &str = "non-2021-2027";
/// How long a step may take on a cluster that is electing a leader.
const CLUSTER_DEADLINE: Duration = Duration::from_secs(60);
/// Proposals published.
const PROPOSALS: usize = 12;
/// Of them, how many get a positive statement; the budget covers half of those.
const POSITIVE: usize = 8;

/// A command retried with the same id until it is answered (not `unavailable`, not timed out).
async fn command<T: CommandData>(app: &TestApp, command: &T) -> Value {
    let (service, name) = (T::SERVICE.as_str(), T::NAME);
    let payload = buendel::commands::envelope(Uuid::new_v4(), "office", command);
    let prefix = app.settings.namespace.command_prefix(service);
    eventually_within(
        &format!("{service} {name} answered"),
        CLUSTER_DEADLINE,
        || async {
            let reply: Reply = buendel::commands::request(&app.client, &prefix, name, &payload)
                .await
                .ok()?;
            let reply = serde_json::to_value(reply).ok()?;
            (reply["error"]["code"] != "unavailable").then_some(reply)
        },
    )
    .await
}

async fn command_ok<T: CommandData>(app: &TestApp, data: &T) {
    let reply = command(app, data).await;
    assert_eq!(reply["ok"], true, "{}: {reply}", T::NAME);
}

async fn status_of(app: &TestApp, proposal_id: Uuid, wanted: &str) {
    let path = format!("/v1/proposals/{proposal_id}");
    eventually_within(
        &format!("{proposal_id} {wanted}"),
        CLUSTER_DEADLINE,
        || async {
            let (_, body) = app.get(&path).await;
            (body["status"] == wanted).then_some(())
        },
    )
    .await;
}

/// The name of the node leading `kind`'s stream.
async fn leader(app: &TestApp, kind: StreamKind) -> Option<String> {
    let mut stream = app.store.stream(kind).await.ok()?;
    stream.info().await.ok()?.cluster.as_ref()?.leader.clone()
}

#[tokio::test]
async fn the_leader_of_ledger_killed_mid_run_loses_and_doubles_nothing_on_an_r3_cluster() {
    let mut cluster = NatsCluster::start(NATS_VERSION, 3);
    let client = eventually_within(
        "the cluster's JetStream answers",
        CLUSTER_DEADLINE,
        || async {
            let client = buendel_runtime::connect::nats(&cluster.urls(), "cluster-probe")
                .await
                .ok()?;
            let js = async_nats::jetstream::new(client.clone());
            js.query_account().await.ok().map(|_| client)
        },
    )
    .await;
    drop(client);
    let app = spawn_all_on(cluster.urls(), 3).await;
    let mut info = app.store.stream(StreamKind::Ledger).await.expect("LEDGER");
    let replicas = info.info().await.expect("info").config.num_replicas;
    assert_eq!(replicas, 3, "R3 streams");

    command_ok(&app, &allocation(4 * 18_000_000, 4 * 3_000_000)).await;
    let mut proposals = Vec::new();
    for _ in 0..PROPOSALS {
        let proposal_id = Uuid::new_v4();
        app.publish_event(&submitted_event(proposal_id)).await;
        proposals.push(proposal_id);
    }
    for &proposal_id in &proposals {
        status_of(&app, proposal_id, "in_review").await;
    }

    // Positive statements; half-way through, the leader of LEDGER dies.
    let mut killed = None;
    for (i, &proposal_id) in proposals[..POSITIVE].iter().enumerate() {
        if i == POSITIVE / 2 {
            let name = leader(&app, StreamKind::Ledger).await.expect("a leader");
            let index: usize = name.trim_start_matches('n').parse().expect("node name");
            cluster.nodes[index].kill();
            killed = Some((index, name));
        }
        for partner in &NON_PARTNERS[..9] {
            command_ok(&app, &vote(proposal_id, partner, VoteChoice::Yes)).await;
        }
        let statement = IssueStatement {
            proposal_id,
            verdict: Verdict::Positive,
            conditions: None,
        };
        command_ok(&app, &statement).await;
    }
    let (index, old_leader) = killed.expect("a node was killed");
    eventually_within("a new leader of LEDGER", CLUSTER_DEADLINE, || async {
        leader(&app, StreamKind::Ledger)
            .await
            .filter(|l| *l != old_leader)
    })
    .await;
    cluster.nodes[index].restart();

    // Two reserved proposals are refused: each refusal's release serves the waitlist atomically.
    let booked = || async {
        let mut statuses = Vec::new();
        for &proposal_id in &proposals[..POSITIVE] {
            let (_, body) = app.get(&format!("/v1/proposals/{proposal_id}")).await;
            statuses.push(body["status"].as_str().unwrap_or_default().to_owned());
        }
        statuses
    };
    let deadline = tokio::time::Instant::now() + CLUSTER_DEADLINE;
    loop {
        let statuses = booked().await;
        if statuses
            .iter()
            .all(|s| s == "funds_reserved" || s == "waitlisted")
        {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let ns = &app.settings.namespace;
            let stream = app
                .store
                .stream(StreamKind::Reviews)
                .await
                .expect("REVIEWS");
            let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
                .get_consumer(&ns.durable("ledger", StreamKind::Reviews))
                .await
                .expect("the saga's consumer");
            let info = consumer.info().await.expect("info");
            let ledger = app.store.stream_last_sequence(StreamKind::Ledger).await;
            let checkpoint =
                buendel_projector::checkpoint::checkpoint(&app.pool, StreamKind::Ledger).await;
            let (_, letters) = app.get("/v1/deadletters").await;
            eprintln!("LEDGER last {ledger:?}, projected {checkpoint:?}, dead letters {letters}");
            panic!(
                "the ledger did not book every statement: {statuses:?}; saga consumer: delivered {:?}, ack floor {:?}, pending {}, ack pending {}, redelivered {}",
                info.delivered, info.ack_floor, info.num_pending, info.num_ack_pending, info.num_redelivered
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reserved: Vec<Uuid> = {
        let mut out = Vec::new();
        for &proposal_id in &proposals[..POSITIVE] {
            let (_, body) = app.get(&format!("/v1/proposals/{proposal_id}")).await;
            if body["status"] == "funds_reserved" {
                out.push(proposal_id);
            }
        }
        out
    };
    assert_eq!(reserved.len(), POSITIVE / 2, "the budget covers half");
    for &proposal_id in &reserved[..2] {
        let refusal = RecordRefusal {
            proposal_id,
            bank_reference: "NB-ABL-1".into(),
            reason: "withdrawn by the bank".into(),
        };
        command_ok(&app, &refusal).await;
    }
    for &proposal_id in &reserved[..2] {
        status_of(&app, proposal_id, "refused").await;
    }
    eventually_within("the waitlist served", CLUSTER_DEADLINE, || async {
        let mut count = 0;
        for &proposal_id in &proposals[..POSITIVE] {
            let (_, body) = app.get(&format!("/v1/proposals/{proposal_id}")).await;
            count += usize::from(body["status"] == "funds_reserved");
        }
        (count == POSITIVE / 2).then_some(())
    })
    .await;

    // Nothing lost or doubled: every cause booked once, whole; every proposal once.
    let subject = app.settings.namespace.subject(StreamKind::Ledger, FUND);
    let events = app
        .store
        .load(StreamKind::Ledger, &subject)
        .await
        .expect("the fund loads");
    let mut per_cause: HashMap<String, usize> = HashMap::new();
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for stored in &events {
        let event: Value = serde_json::from_slice(&stored.payload).expect("json");
        *per_cause
            .entry(event["causationid"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
        *per_id
            .entry(event["id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert!(per_id.values().all(|&n| n == 1), "an event stored twice");
    // 1 allocation, POSITIVE statements (reserved or declined), 2 refusals of 2 events each.
    assert_eq!(per_cause.len(), 1 + POSITIVE + 2, "{per_cause:?}");
    assert_eq!(events.len(), 1 + POSITIVE + 2 * 2);
    let proposals_stored = app
        .store
        .stream_last_sequence(StreamKind::Proposals)
        .await
        .expect("PROPOSALS");
    let ns = &app.settings.namespace;
    let proposal_events = app
        .store
        .read(
            StreamKind::Proposals,
            &ns.stream_subjects(StreamKind::Proposals),
            1,
            proposals_stored,
        )
        .await
        .expect("PROPOSALS reads");
    let mut per_type: HashMap<String, usize> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for stored in &proposal_events {
        let event: Value = serde_json::from_slice(&stored.payload).expect("json");
        assert!(
            ids.insert(event["id"].to_string()),
            "a proposal event stored twice"
        );
        *per_type
            .entry(event["type"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        per_type["buendel.proposal.submitted.v1"], PROPOSALS,
        "{per_type:?}"
    );
    assert_eq!(
        per_type["buendel.proposal.screened.v2"], PROPOSALS,
        "{per_type:?}"
    );
    assert!(
        per_type
            .get("buendel.proposal.review_recorded.v1")
            .is_none_or(|&n| n <= POSITIVE),
        "a statement recorded at most once per proposal: {per_type:?}"
    );
    app.assert_audit_clean().await;
    app.cleanup().await;
    drop(cluster);
}

#[test]
fn the_deployed_nats_configuration_is_valid_for_the_pinned_server_and_compose_uses_all_three_nodes()
{
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The configuration includes the permissions `buendel creds generate` writes beside it.
    let dir =
        std::env::temp_dir().join(format!("buendel-deploy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("directory");
    std::fs::copy(root.join("deploy/nats.conf"), dir.join("nats.conf")).expect("copied");
    let ns = buendel_contract::Namespace::new("buendel").expect("namespace");
    buendel::creds::generate(&ns, &dir.join("creds"), &[]).expect("credentials");
    let output = std::process::Command::new(buendel_testing::nats_binary(NATS_VERSION))
        .arg("-c")
        .arg(dir.join("nats.conf"))
        .arg("-t")
        .env("NATS_SERVER_NAME", "nats1")
        .output()
        .expect("nats-server runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && said.contains("is valid"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let compose = std::fs::read_to_string(root.join("compose.yaml")).expect("compose.yaml");
    // Every service runs as its own identity, after the owner's one migration, checking only.
    for service in ["submission", "approval", "ledger", "projector", "api"] {
        assert!(
            compose.contains(&format!("NATS_NKEY: /creds/service.{service}.nk")),
            "{service}"
        );
    }
    assert!(compose.contains("NATS_NKEY: /creds/owner.nk"));
    assert!(compose.contains("command: [\"migrate\"]"));
    assert!(compose.contains("BUENDEL_SETUP: check"));
    assert!(compose.contains("BUENDEL_ACTORS: authenticated"));
    assert!(compose.contains("DATABASE_URL: postgres://buendel_writer@postgres:5432/buendel"));
    assert!(compose.contains("NATS_URL: nats://nats1:4222,nats://nats2:4222,nats://nats3:4222"));
    assert!(compose.contains("BUENDEL_STREAM_REPLICAS: \"3\""));
    for node in ["nats1", "nats2", "nats3"] {
        assert!(
            compose.contains(&format!("NATS_SERVER_NAME: {node}")),
            "{node}"
        );
    }
}
