//! The runtime's reactor on a real server: each verdict becomes an ack, a nak or a dead letter,
//! within the limits it was given, and the server's consumer carries those limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use buendel_contract::deadletter::DeadLetter;
use buendel_contract::namespace::StreamKind;
use buendel_runtime::reactor::{
    self, Delivery, Limits, Reaction, Reactor, Refusal, Spec, Verdict, RETRIES_EXHAUSTED,
    SPARE_DELIVERIES,
};
use buendel_runtime::{CancellationToken, EventStore};

use crate::helpers::{eventually, fresh_namespace};

/// Answers by the payload: `done`, `retry`, `refuse`, `flaky` (retry once, then done); counts
/// every delivery it handles per stream sequence.
#[derive(Default)]
struct Scripted {
    handled: Mutex<HashMap<u64, i64>>,
}

impl Scripted {
    fn handled(&self, sequence: u64) -> i64 {
        self.handled
            .lock()
            .expect("lock")
            .get(&sequence)
            .copied()
            .unwrap_or(0)
    }
}

impl Reaction for Scripted {
    type Read = String;

    fn read(&self, delivery: &Delivery) -> String {
        String::from_utf8_lossy(&delivery.payload).into_owned()
    }

    async fn lane(&self, delivery: &Delivery, _read: &String) -> u64 {
        reactor::hash_key(delivery.subject.as_bytes())
    }

    async fn handle(&self, delivery: &Delivery, read: String) -> Verdict {
        *self
            .handled
            .lock()
            .expect("lock")
            .entry(delivery.sequence)
            .or_default() += 1;
        match read.as_str() {
            "done" => Verdict::Done,
            "flaky" if delivery.delivered == 1 => Verdict::Retry("not yet".into()),
            "flaky" => Verdict::Done,
            "retry" => Verdict::Retry("the upstream is down".into()),
            _ => Verdict::Refuse(
                Refusal::new("scripted_refusal", "refused by the script", vec![])
                    .about(Some("e-1".into()), Some("test.v1".into())),
            ),
        }
    }
}

async fn letters(store: &EventStore) -> Vec<DeadLetter> {
    let ns = store.namespace();
    let subject = ns.subject(StreamKind::Deadletter, "reactor-test");
    store
        .load(StreamKind::Deadletter, &subject)
        .await
        .expect("dead letters read")
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).expect("a dead letter"))
        .collect()
}

#[tokio::test]
async fn each_verdict_becomes_an_ack_a_nak_or_a_dead_letter_within_the_limits() {
    let ns = fresh_namespace();
    let client = buendel_runtime::connect::nats(&buendel_testing::nats_url(), "reactor-test")
        .await
        .expect("NATS");
    let store = EventStore::new(client.clone(), ns.clone());
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams");
    let limits = Limits {
        deliveries_max: 3,
        nak_delay_ms: 20,
        lanes: 4,
        lane_queue_max: 4,
        ack_pending_max: 16,
        ack_wait_ms: 30_000,
    };
    let spec = Spec {
        stream: StreamKind::Intake,
        service: "reactor-test".into(),
        letter_source: "reactor-test".into(),
        letter_origin: "reactor-test-origin".into(),
        limits,
    };
    let clock = buendel_testing::test_clock();
    let reactor = Reactor::bind(store.clone(), clock, spec)
        .await
        .expect("bound");

    let info = store
        .stream(StreamKind::Intake)
        .await
        .expect("stream")
        .consumer_info(ns.durable("reactor-test", StreamKind::Intake))
        .await
        .expect("consumer info");
    assert_eq!(info.config.max_deliver, 3 + SPARE_DELIVERIES);
    assert_eq!(info.config.max_ack_pending, 16);

    let mut sequences = HashMap::new();
    for (i, body) in ["done", "flaky", "retry", "refuse"].into_iter().enumerate() {
        let subject = ns.subject(StreamKind::Intake, format!("k{i}"));
        let ack = store
            .jetstream()
            .publish(subject, body.into())
            .await
            .expect("published")
            .await
            .expect("stored");
        sequences.insert(body, ack.sequence);
    }

    let scripted = Arc::new(Scripted::default());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(reactor.run(scripted.clone(), shutdown.clone()));

    let found = eventually("two dead letters", || async {
        let found = letters(&store).await;
        (found.len() >= 2).then_some(found)
    })
    .await;
    let by_code: HashMap<&str, &DeadLetter> = found.iter().map(|l| (l.code.as_str(), l)).collect();
    let exhausted = by_code[RETRIES_EXHAUSTED];
    assert_eq!(exhausted.stream_sequence, sequences["retry"]);
    assert!(
        exhausted.reasons[0]
            .reason
            .contains("failed 3 times, last: the upstream is down"),
        "{:?}",
        exhausted.reasons
    );
    let refused = by_code["scripted_refusal"];
    assert_eq!(refused.stream_sequence, sequences["refuse"]);
    assert_eq!(refused.event_id.as_deref(), Some("e-1"));
    assert_eq!(refused.original_base64, DeadLetter::encode(b"refuse"));
    assert_eq!(
        refused.id,
        DeadLetter::id_for("reactor-test-origin", sequences["refuse"])
    );

    // Everything is acknowledged: nothing pending, nothing waiting for an ack.
    eventually("every message acknowledged", || async {
        let info = store
            .stream(StreamKind::Intake)
            .await
            .ok()?
            .consumer_info(ns.durable("reactor-test", StreamKind::Intake))
            .await
            .ok()?;
        (info.num_ack_pending == 0 && info.num_pending == 0).then_some(())
    })
    .await;
    assert_eq!(
        scripted.handled(sequences["done"]),
        1,
        "done is acked at once"
    );
    assert_eq!(
        scripted.handled(sequences["flaky"]),
        2,
        "a nak brings it back once"
    );
    assert_eq!(
        scripted.handled(sequences["retry"]),
        3,
        "three deliveries, then a letter"
    );
    assert_eq!(
        scripted.handled(sequences["refuse"]),
        1,
        "a refusal is lettered at once"
    );
    assert_eq!(
        letters(&store).await.len(),
        2,
        "the flaky one is never lettered"
    );

    shutdown.cancel();
    running.await.expect("joined").expect("stopped");
    store.delete_streams().await.expect("cleaned up");
}
