//! The transparency logs over a ledger built by the real services: the trees follow the streams,
//! every event's proof verifies against the pinned key alone, consecutive checkpoints are
//! consistent, witnesses cosign (two of them, one restarted) and refuse a rewritten history, and the
//! auditor holding an earlier checkpoint refuses it too.

use std::collections::BTreeMap;
use std::sync::Arc;

use buendel::system::{LogPart, Parts};
use buendel_audit::transparency::{self, Pinned, Trusted};
use buendel_contract::namespace::StreamKind;
use buendel_tlog::{
    consistency_proof, verify_consistency, verify_inclusion_bundle, Checkpoint, ConsistencyBundle,
    Frontier, KeyKind, NodeId, Note, Signer,
};
use buendel_transparency::witness::{AddOutcome, Witness, WitnessClient};
use buendel_transparency::{proofs, Log, LogKey, LogServiceLimits, TreeStore};

use crate::helpers::{eventually, fresh_namespace, spawn_parts, TestApp};

fn log_part(key: LogKey, witnesses: Vec<String>) -> LogPart {
    LogPart {
        key: Arc::new(key),
        witnesses,
        limits: LogServiceLimits {
            cadence_ms: 3_600_000,
            ..LogServiceLimits::default()
        },
    }
}

async fn spawn_with_log(key: LogKey, witnesses: Vec<String>) -> TestApp {
    spawn_parts(
        fresh_namespace(),
        Parts {
            api: None,
            log: Some(log_part(key, witnesses)),
            ..Parts::all(([127, 0, 0, 1], 0).into())
        },
    )
    .await
}

/// Waits until both trees hold every message of their streams.
async fn logs_caught_up(app: &TestApp) -> BTreeMap<Log, u64> {
    let tree = TreeStore::new(app.pool.clone());
    let mut sizes = BTreeMap::new();
    for log in Log::ALL {
        let last = app
            .store
            .stream_last_sequence(log.stream())
            .await
            .expect("stream");
        let size = eventually(&format!("the {log} log caught up"), || async {
            let head = tree.head(log).await.ok()?;
            (head.last_seq >= last).then_some(head.size)
        })
        .await;
        sizes.insert(log, size);
    }
    sizes
}

async fn stored(app: &TestApp, kind: StreamKind, seq: u64) -> Vec<u8> {
    let filter = app.store.namespace().stream_subjects(kind);
    let read = app.store.read(kind, &filter, seq, seq).await.expect("read");
    read.into_iter()
        .next()
        .expect("the message")
        .payload
        .to_vec()
}

async fn demo(app: &TestApp) {
    buendel::demo::load(&app.client, &app.store, app.settings.clock)
        .await
        .expect("demo loads");
}

/// Appends a few more ledger events (budget adjustments, each a new command).
async fn grow(app: &TestApp) {
    for i in 0..3 {
        let reply = app
            .send(&buendel_contract::commands::AdjustBudget {
                fund_id: "non-2021-2027".into(),
                source: buendel_contract::ledger::Source::Land,
                delta_cents: buendel_contract::Cents(100),
                reason: format!("top-up {i}"),
            })
            .await;
        assert!(reply.is_ok(), "{reply:?}");
    }
}

#[tokio::test]
async fn every_event_of_both_logs_has_a_proof_that_verifies_against_the_pinned_key_alone() {
    let key = LogKey::generate("buendel.test/proofs").expect("key");
    let vkeys: Vec<_> = Log::ALL
        .iter()
        .map(|log| key.verifier(*log).expect("verifier"))
        .collect();
    let app = spawn_with_log(key, Vec::new()).await;
    demo(&app).await;
    let sizes = logs_caught_up(&app).await;
    let tree = TreeStore::new(app.pool.clone());
    let mut notes = BTreeMap::new();
    for log in Log::ALL {
        let note = buendel::tlog::request_checkpoint(&app.client, &app.settings, log)
            .await
            .expect("a checkpoint on request");
        let parsed = Note::parse(&note).expect("a signed note");
        let verified = parsed.verify(&vkeys).expect("signed by the log's key");
        assert_eq!(verified.len(), 1);
        let checkpoint = Checkpoint::parse(&parsed.text).expect("a checkpoint");
        assert_eq!(checkpoint.origin, format!("buendel.test/proofs/{log}"));
        assert_eq!(checkpoint.size, sizes[&log]);
        assert!(checkpoint.size > 0, "the demo wrote {log} events");

        // Every leaf: its proof verifies with the stored bytes and the pinned key only.
        for seq in 1..=checkpoint.size {
            let bytes = stored(&app, log.stream(), seq).await;
            let event_id: uuid::Uuid = serde_json::from_slice::<serde_json::Value>(&bytes)
                .expect("json")["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("uuid");
            let (bundle, at) = proofs::inclusion(&tree, log, event_id)
                .await
                .expect("proof");
            assert_eq!(at, seq);
            assert_eq!(bundle.index, seq - 1);
            let (proved, _) =
                verify_inclusion_bundle(&bundle, &bytes, &vkeys[log as usize], &[], 0)
                    .expect("the proof verifies");
            assert_eq!(proved.size, checkpoint.size);
            let mut tampered = bytes.clone();
            tampered[bytes.len() / 2] ^= 1;
            assert!(
                verify_inclusion_bundle(&bundle, &tampered, &vkeys[log as usize], &[], 0).is_err(),
                "a changed event must not verify"
            );
        }
        notes.insert(log.as_str().to_owned(), note);
    }

    // The auditor recomputes both trees from the streams and accepts the checkpoints.
    let pinned = Pinned {
        logs: vkeys.clone(),
        ..Pinned::default()
    };
    let (reports, trusted) =
        transparency::verify_logs_online(&app.store, &notes, &pinned, &Trusted::default())
            .await
            .expect("audit");
    assert!(reports.iter().all(|r| r.failure.is_none()), "{reports:?}");
    assert_eq!(trusted.logs.len(), 2);

    // More events, a new checkpoint: consistent with the first, and the auditor holding the first
    // accepts the second.
    grow(&app).await;
    let grown = logs_caught_up(&app).await;
    let first = Checkpoint::parse(&Note::parse(&notes["ledger"]).expect("note").text).expect("cp");
    let second_note = buendel::tlog::request_checkpoint(&app.client, &app.settings, Log::Ledger)
        .await
        .expect("checkpoint");
    let second = Checkpoint::parse(&Note::parse(&second_note).expect("note").text).expect("cp");
    assert_eq!(second.size, grown[&Log::Ledger]);
    assert!(second.size > first.size);
    let bundle = proofs::consistency(&tree, Log::Ledger, first.size, None)
        .await
        .expect("consistency");
    verify_consistency(
        first.size,
        second.size,
        &first.root,
        &second.root,
        &bundle.proof,
    )
    .expect("the two checkpoints are consistent");
    let notes = BTreeMap::from([
        ("ledger".to_owned(), second_note),
        (
            "reviews".to_owned(),
            buendel::tlog::request_checkpoint(&app.client, &app.settings, Log::Reviews)
                .await
                .expect("checkpoint"),
        ),
    ]);
    let (reports, _) = transparency::verify_logs_online(&app.store, &notes, &pinned, &trusted)
        .await
        .expect("audit");
    assert!(reports.iter().all(|r| r.failure.is_none()), "{reports:?}");
    assert!(reports.iter().all(|r| r.trusted_size.is_some()));

    // The same over HTTP.
    let api = buendel_api::app(buendel_api::AppState::new(app.pool.clone()));
    let text = get_text(&api, "/v1/logs/ledger/checkpoint").await;
    assert_eq!(
        Checkpoint::parse(&Note::parse(&text).expect("note").text)
            .expect("cp")
            .size,
        second.size
    );
    let text = get_text(
        &api,
        &format!("/v1/logs/ledger/consistency?from={}", first.size),
    )
    .await;
    let bundle = ConsistencyBundle::parse(&text).expect("bundle");
    verify_consistency(
        first.size,
        second.size,
        &first.root,
        &second.root,
        &bundle.proof,
    )
    .expect("consistent over HTTP");
    app.cleanup().await;
}

async fn get_text(api: &axum::Router, path: &str) -> String {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let response = api
        .clone()
        .oneshot(
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), 200, "GET {path}");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(body.to_vec()).expect("utf-8")
}

struct RunningWitness {
    url: String,
    shutdown: buendel_runtime::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start_witness(
    signer: Signer,
    logs: Vec<buendel_tlog::Verifier>,
    dir: &std::path::Path,
) -> RunningWitness {
    let witness = Arc::new(Witness::open(signer, logs, dir).expect("witness"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = buendel_runtime::CancellationToken::new();
    let task = tokio::spawn(witness.serve(listener, shutdown.clone()));
    RunningWitness {
        url,
        shutdown,
        task,
    }
}

impl RunningWitness {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("joined")
            .expect("witness stops cleanly");
    }
}

fn witness_key(name: &str, seed: u8) -> Signer {
    Signer::from_seed(name, KeyKind::Cosignature, [seed; 32]).expect("witness key")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("buendel-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[tokio::test]
async fn two_witnesses_cosign_a_restarted_one_keeps_its_state_and_both_refuse_a_rewritten_history()
{
    let key = LogKey::generate("buendel.test/witnessed").expect("key");
    let ledger_key = key.verifier(Log::Ledger).expect("vkey");
    let log_keys: Vec<_> = Log::ALL
        .iter()
        .map(|l| key.verifier(*l).expect("vkey"))
        .collect();
    let (one, two) = (temp_dir("witness-one"), temp_dir("witness-two"));
    let w1 = start_witness(
        witness_key("witness.one.example", 1),
        log_keys.clone(),
        &one,
    )
    .await;
    let w2 = start_witness(
        witness_key("witness.two.example", 2),
        log_keys.clone(),
        &two,
    )
    .await;
    let witness_keys = vec![
        witness_key("witness.one.example", 1).verifier(),
        witness_key("witness.two.example", 2).verifier(),
    ];
    let urls = vec![w1.url.clone(), w2.url.clone()];
    // The log's own signer, to forge with below: the same key an attacker who took it would hold.
    let forger = key.signer(Log::Ledger).expect("signer");
    let app = spawn_with_log(key, urls.clone()).await;
    demo(&app).await;
    logs_caught_up(&app).await;
    let note = buendel::tlog::request_checkpoint(&app.client, &app.settings, Log::Ledger)
        .await
        .expect("checkpoint");
    let parsed = Note::parse(&note).expect("note");
    let cosigned = parsed.verify(&witness_keys).expect("cosigned");
    assert_eq!(cosigned.len(), 2, "both witnesses cosigned: {note}");
    assert!(cosigned.iter().all(|v| v.timestamp.is_some()));
    let first = Checkpoint::parse(&parsed.text).expect("checkpoint");

    // Restart the first witness from its directory: it still holds the checkpoint, and the next
    // one (a consistency proof from it) is cosigned by both again.
    w1.stop().await;
    let w1 = start_witness(
        witness_key("witness.one.example", 1),
        log_keys.clone(),
        &one,
    )
    .await;
    let reopened = Witness::open(
        witness_key("witness.one.example", 1),
        log_keys.clone(),
        &one,
    )
    .expect("reopen");
    assert_eq!(reopened.state().await.logs[&first.origin].size, first.size);
    let restarted = WitnessClient::new(&w1.url);
    // The log knows the old URL; a client of the new one is given the held size below.
    grow(&app).await;
    logs_caught_up(&app).await;
    let tree = TreeStore::new(app.pool.clone());
    let second_note = buendel::tlog::request_checkpoint(&app.client, &app.settings, Log::Ledger)
        .await
        .expect("checkpoint");
    let second = Checkpoint::parse(&Note::parse(&second_note).expect("note").text).expect("cp");
    assert!(second.size > first.size);
    let plain = tree
        .checkpoint(Log::Ledger, second.size)
        .await
        .expect("db")
        .expect("kept")
        .note;
    let proof = proofs::consistency(&tree, Log::Ledger, first.size, Some(second.size))
        .await
        .expect("proof");
    let body = ConsistencyBundle {
        old_size: first.size,
        proof: proof.proof.clone(),
        checkpoint: plain.clone(),
    };
    match restarted
        .add_checkpoint(&body.to_text(), 5_000)
        .await
        .expect("answer")
    {
        AddOutcome::Cosigned(lines) => assert_eq!(lines.len(), 1),
        other => panic!("the restarted witness refused a consistent checkpoint: {other:?}"),
    }
    let w2_held = Witness::open(
        witness_key("witness.two.example", 2),
        log_keys.clone(),
        &two,
    )
    .expect("reopen")
    .state()
    .await;
    assert_eq!(
        w2_held.logs[&first.origin].size, second.size,
        "the second witness cosigned it"
    );

    // A rewritten history: the same events but one, re-signed consistently with the log's key.
    let mut leaves = Vec::new();
    for seq in 1..=second.size + 1 {
        let mut bytes = stored(&app, StreamKind::Ledger, seq.min(second.size)).await;
        if seq == 1 {
            bytes[10] ^= 1;
        }
        leaves.push(buendel_tlog::leaf_hash(&bytes));
    }
    let mut nodes: BTreeMap<NodeId, buendel_tlog::Hash> = BTreeMap::new();
    let mut forged = Frontier::new();
    for leaf in &leaves {
        forged.push(*leaf, |id, hash| {
            nodes.insert(id, hash);
        });
    }
    let forged_body = Checkpoint {
        origin: second.origin.clone(),
        size: forged.size(),
        root: forged.root(),
        extensions: Vec::new(),
    };
    let forged_note = forger.sign_note(&forged_body.to_text()).expect("signed");
    let forged_proof =
        consistency_proof(second.size, forged.size(), |id| nodes.get(&id).copied()).expect("proof");
    let forged_request = ConsistencyBundle {
        old_size: second.size,
        proof: forged_proof,
        checkpoint: forged_note.clone(),
    }
    .to_text();
    for (url, dir) in [(&w1.url, &one), (&w2.url, &two)] {
        let outcome = WitnessClient::new(url)
            .add_checkpoint(&forged_request, 5_000)
            .await
            .expect("answer");
        assert!(
            matches!(&outcome, AddOutcome::Refused { status: 422, .. }),
            "{outcome:?}"
        );
        let evidence: Vec<_> = std::fs::read_dir(dir.join("evidence"))
            .expect("evidence dir")
            .collect();
        assert_eq!(
            evidence.len(),
            1,
            "the refused checkpoint is kept as evidence"
        );
    }
    // Neither moved.
    for (signer, dir) in [
        (witness_key("witness.one.example", 1), &one),
        (witness_key("witness.two.example", 2), &two),
    ] {
        let held = Witness::open(signer, log_keys.clone(), dir)
            .expect("reopen")
            .state()
            .await;
        assert_eq!(held.logs[&first.origin].size, second.size);
    }

    // The auditor who trusted the second checkpoint refuses the forged one over forged events.
    let pinned = Pinned {
        logs: vec![ledger_key],
        ..Pinned::default()
    };
    let mut trusted = Trusted::default();
    trusted.logs.insert(
        second.origin.clone(),
        transparency::TrustedCheckpoint {
            size: second.size,
            root: b64(&second.root),
            checkpoint: second_note.clone(),
        },
    );
    let mut replay = transparency::TreeReplay::new([forged.size(), second.size]);
    for leaf in &leaves {
        replay.push_hash(*leaf);
    }
    let (report, passed) = transparency::check(
        "ledger",
        Some(&forged_note),
        &replay,
        &pinned,
        trusted.logs.get(&second.origin),
    );
    assert!(passed.is_none());
    let failure = report.failure.expect("refused");
    assert!(failure.contains("history rewritten"), "{failure}");
    // Without the trusted state the forgery is self-consistent: that is what the state is for.
    let (report, _) = transparency::check("ledger", Some(&forged_note), &replay, &pinned, None);
    assert!(report.failure.is_none(), "{:?}", report.failure);

    w1.stop().await;
    w2.stop().await;
    app.cleanup().await;
    let _ = std::fs::remove_dir_all(one);
    let _ = std::fs::remove_dir_all(two);
}

fn b64(hash: &buendel_tlog::Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(hash)
}

#[tokio::test]
async fn two_log_instances_racing_on_one_namespace_build_one_tree_equal_to_the_streams() {
    let key = LogKey::generate("buendel.test/race").expect("key");
    let pinned = Pinned {
        logs: Log::ALL
            .iter()
            .map(|l| key.verifier(*l).expect("vkey"))
            .collect(),
        ..Pinned::default()
    };
    // The services without a log: the two instances below are the only writers of the tree.
    let app = spawn_parts(
        fresh_namespace(),
        Parts {
            api: None,
            ..Parts::all(([127, 0, 0, 1], 0).into())
        },
    )
    .await;
    demo(&app).await;
    let instance = |batch_max| {
        buendel_transparency::LogService::new(
            app.store.clone(),
            TreeStore::new(app.pool.clone()),
            &key,
            Vec::new(),
            app.settings.clock,
            LogServiceLimits {
                // Small scans and batches: many interleaving transactions.
                scan_max: 7,
                batch_max,
                ..LogServiceLimits::default()
            },
        )
        .expect("log service")
    };
    let (a, b) = (instance(2), instance(3));
    let mut notes = BTreeMap::new();
    for log in Log::ALL {
        let last = app
            .store
            .stream_last_sequence(log.stream())
            .await
            .expect("stream");
        let tree = TreeStore::new(app.pool.clone());
        loop {
            // Both instances at once: one of each pair of overlapping batches loses with a
            // conflict and appends nothing; the head never skips or repeats a leaf.
            let (ra, rb) = tokio::join!(a.catch_up(log), b.catch_up(log));
            for result in [ra, rb] {
                if let Err(error) = result {
                    assert!(
                        format!("{error:#}").contains("another instance appended"),
                        "{error:#}"
                    );
                }
            }
            if tree.head(log).await.expect("head").last_seq >= last {
                break;
            }
        }
        let (ia, ib) = tokio::join!(a.issue(log), b.issue(log));
        let checkpoint = ia
            .expect("issued")
            .or(ib.expect("issued"))
            .expect("a checkpoint");
        assert_eq!(checkpoint.size, last);
        notes.insert(log.as_str().to_owned(), checkpoint.cosigned);
    }
    let (reports, _) =
        transparency::verify_logs_online(&app.store, &notes, &pinned, &Trusted::default())
            .await
            .expect("audit");
    assert!(reports.iter().all(|r| r.failure.is_none()), "{reports:?}");
    app.cleanup().await;
}

/// Flips one byte in the middle of line `line` (1-based) of an export file.
fn flip_line(path: &std::path::Path, line: usize) {
    let bytes = std::fs::read(path).expect("read");
    let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let target = &mut lines[line - 1];
    let middle = target.len() / 2;
    target[middle] ^= 1;
    std::fs::write(path, lines.join(&b'\n')).expect("write");
}

#[tokio::test]
async fn an_export_verifies_offline_and_a_changed_event_is_named_by_its_line() {
    let key = LogKey::generate("buendel.test/export").expect("key");
    let pinned = Pinned {
        logs: Log::ALL
            .iter()
            .map(|l| key.verifier(*l).expect("vkey"))
            .collect(),
        ..Pinned::default()
    };
    let app = spawn_with_log(key, Vec::new()).await;
    demo(&app).await;
    logs_caught_up(&app).await;
    let dir = temp_dir("export");
    buendel::audit::export(&app.settings, &dir)
        .await
        .expect("export");
    for file in [
        "reviews.jsonl",
        "ledger.checkpoint",
        "reviews.checkpoint",
        "ledger.leaves",
        "reviews.leaves",
    ] {
        assert!(dir.join(file).exists(), "{file} exported");
    }
    let (reports, _) =
        transparency::verify_logs_files(&dir, &pinned, &Trusted::default()).expect("audit");
    assert!(reports.iter().all(|r| r.failure.is_none()), "{reports:?}");

    for (file, line) in [("reviews.jsonl", 7), ("ledger.jsonl", 3)] {
        let changed = temp_dir("export-changed");
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), changed.join(entry.file_name())).expect("copy");
        }
        flip_line(&changed.join(file), line);
        let (reports, _) =
            transparency::verify_logs_files(&changed, &pinned, &Trusted::default()).expect("audit");
        let log = file.trim_end_matches(".jsonl");
        let report = reports.iter().find(|r| r.log == log).expect("report");
        let failure = report.failure.as_deref().expect("a changed event fails");
        assert_eq!(
            report.first_differing_sequence,
            Some(line as u64),
            "{failure}"
        );
        assert!(
            failure.contains(&format!("line {line} of {file}")),
            "{failure}"
        );

        // A leaf list changed to match the changed event is no longer the signed tree: the audit
        // still fails, and it names nothing rather than something false.
        let leaves = changed.join(format!("{log}.leaves"));
        let mut hashes: Vec<String> = std::fs::read_to_string(&leaves)
            .expect("leaves")
            .lines()
            .map(str::to_owned)
            .collect();
        let bytes = std::fs::read(changed.join(file)).expect("read");
        let event = bytes.split(|b| *b == b'\n').nth(line - 1).expect("line");
        hashes[line - 1] = b64(&buendel_tlog::leaf_hash(event));
        std::fs::write(&leaves, hashes.join("\n") + "\n").expect("write");
        let (reports, _) =
            transparency::verify_logs_files(&changed, &pinned, &Trusted::default()).expect("audit");
        let report = reports.iter().find(|r| r.log == log).expect("report");
        assert!(report.failure.is_some());
        assert_eq!(report.first_differing_sequence, None);
        let _ = std::fs::remove_dir_all(changed);
    }
    let _ = std::fs::remove_dir_all(dir);
    app.cleanup().await;
}

#[tokio::test]
async fn a_tree_lost_from_postgres_is_rebuilt_from_the_streams_and_extends_the_checkpoints_signed_before(
) {
    let key = LogKey::generate("buendel.test/rebuild").expect("key");
    let app = spawn_parts(
        fresh_namespace(),
        Parts {
            api: None,
            ..Parts::all(([127, 0, 0, 1], 0).into())
        },
    )
    .await;
    demo(&app).await;
    let service = buendel_transparency::LogService::new(
        app.store.clone(),
        TreeStore::new(app.pool.clone()),
        &key,
        Vec::new(),
        app.settings.clock,
        LogServiceLimits::default(),
    )
    .expect("log service");
    let tree = TreeStore::new(app.pool.clone());
    let last = app
        .store
        .stream_last_sequence(StreamKind::Ledger)
        .await
        .expect("stream");
    while tree.head(Log::Ledger).await.expect("head").last_seq < last {
        service.catch_up(Log::Ledger).await.expect("catch up");
    }
    let before = service
        .issue(Log::Ledger)
        .await
        .expect("issued")
        .expect("a checkpoint");

    // The tree's tables are lost; the signed checkpoints are kept.
    for statement in [
        "DELETE FROM tlog_nodes WHERE log = 'ledger'",
        "DELETE FROM tlog_leaves WHERE log = 'ledger'",
        "UPDATE tlog_heads SET size = 0, last_seq = 0 WHERE log = 'ledger'",
    ] {
        sqlx::query(statement)
            .execute(&app.pool)
            .await
            .expect("lose the tree");
    }
    grow(&app).await;
    let last = app
        .store
        .stream_last_sequence(StreamKind::Ledger)
        .await
        .expect("stream");
    while tree.head(Log::Ledger).await.expect("head").last_seq < last {
        service.catch_up(Log::Ledger).await.expect("rebuild");
    }
    let after = service
        .issue(Log::Ledger)
        .await
        .expect("the rebuilt tree extends the checkpoint signed before")
        .expect("a checkpoint");
    assert!(after.size > before.size);
    let proof = proofs::consistency(&tree, Log::Ledger, before.size, Some(after.size))
        .await
        .expect("proof");
    verify_consistency(
        before.size,
        after.size,
        &before.root,
        &after.root,
        &proof.proof,
    )
    .expect("consistent");

    // A tree rebuilt from other events is refused: nothing is signed over it.
    for statement in [
        "DELETE FROM tlog_nodes WHERE log = 'ledger'",
        "DELETE FROM tlog_leaves WHERE log = 'ledger'",
        "UPDATE tlog_heads SET size = 0, last_seq = 0 WHERE log = 'ledger'",
    ] {
        sqlx::query(statement)
            .execute(&app.pool)
            .await
            .expect("lose the tree");
    }
    let forged: Vec<_> = (0..after.size + 1)
        .map(|i| buendel_transparency::tree::Leaf {
            seq: i + 1,
            event_id: None,
            hash: buendel_tlog::leaf_hash(format!("not an event {i}").as_bytes()),
        })
        .collect();
    tree.append(Log::Ledger, &Frontier::new(), &forged)
        .await
        .expect("forged leaves");
    let refused = service.issue(Log::Ledger).await;
    assert!(
        matches!(
            refused,
            Err(buendel_transparency::service::IssueError::Inconsistent { .. })
        ),
        "{refused:?}"
    );
    app.cleanup().await;
}
