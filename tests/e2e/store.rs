//! The event store on the real JetStream: optimistic concurrency and stream safety.

use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use buendel_contract::namespace::StreamKind;
use buendel_runtime::store::{EventStore, Pending};
use buendel_runtime::{connect, StoreError};

use crate::helpers::fresh_namespace;

async fn store() -> EventStore {
    let client = connect::nats(&buendel_testing::nats_url(), "buendel-test")
        .await
        .expect("nats");
    EventStore::new(client, fresh_namespace())
}

#[tokio::test]
async fn two_concurrent_appends_on_one_aggregate_give_one_conflict() {
    let store = store().await;
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams");
    let subject = store
        .namespace()
        .subject(StreamKind::Proposals, Uuid::new_v4());
    let event = |n: u8| {
        vec![Pending {
            id: Uuid::new_v4(),
            payload: Bytes::from(vec![b'{', b'}', n]),
        }]
    };

    let (first, second) = (event(1), event(2));
    let (a, b) = tokio::join!(
        store.append(&subject, 0, &first),
        store.append(&subject, 0, &second)
    );
    let results = [a, b];
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict { .. })))
        .count();
    assert_eq!((ok, conflicts), (1, 1), "{results:?}");
    assert_eq!(
        store
            .load(StreamKind::Proposals, &subject)
            .await
            .expect("load")
            .len(),
        1
    );
    store.delete_streams().await.expect("cleanup");
}

#[tokio::test]
async fn an_existing_stream_with_weaker_settings_is_refused() {
    let store = store().await;
    let mut weak = store.stream_config(StreamKind::Intake);
    weak.deny_purge = false;
    weak.max_age = Duration::from_secs(3600);
    store
        .jetstream()
        .create_stream(weak)
        .await
        .expect("weak stream created");

    let error = store
        .ensure_streams(&[StreamKind::Intake])
        .await
        .expect_err("refused");
    let text = error.to_string();
    assert!(matches!(error, StoreError::WeakStream { .. }), "{text}");
    assert!(
        text.contains("deny_purge") && text.contains("max_age"),
        "{text}"
    );
    store.delete_streams().await.expect("cleanup");
}

#[tokio::test]
async fn appends_chain_on_the_last_subject_sequence() {
    let store = store().await;
    store
        .ensure_streams(&[StreamKind::Proposals])
        .await
        .expect("streams");
    let subject = store.namespace().subject(StreamKind::Proposals, "a");
    let other = store.namespace().subject(StreamKind::Proposals, "b");
    let pending = || {
        vec![Pending {
            id: Uuid::new_v4(),
            payload: Bytes::from_static(b"{}"),
        }]
    };
    let first = store.append(&subject, 0, &pending()).await.expect("first")[0];
    store
        .append(&other, 0, &pending())
        .await
        .expect("another aggregate is independent");
    let stale = store.append(&subject, 0, &pending()).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })));
    store
        .append(&subject, first, &pending())
        .await
        .expect("appends on the right sequence");
    assert_eq!(
        store
            .load(StreamKind::Proposals, &subject)
            .await
            .expect("load")
            .len(),
        2
    );
    store.delete_streams().await.expect("cleanup");
}

#[tokio::test]
async fn the_store_detects_atomic_batches_on_2_12_and_their_absence_on_2_10() {
    let client = connect::nats(&buendel_testing::nats_url(), "buendel-test")
        .await
        .expect("nats");
    let version = client.server_info().version;
    let store = EventStore::new(client, fresh_namespace());
    assert!(
        store.capabilities().atomic_batch,
        "{version:?} is the pinned {}",
        buendel_testing::NATS_VERSION
    );
    let oldest = buendel_testing::NatsServer::start(buendel_testing::NATS_VERSION_OLDEST);
    let client = connect::nats(&oldest.url(), "buendel-test")
        .await
        .expect("nats");
    let version = client.server_info().version;
    assert!(version.starts_with("2.10."), "{version}");
    let store = EventStore::new(client, fresh_namespace());
    assert!(!store.capabilities().atomic_batch);
    assert!(!store.capabilities().batch_get);
    // The oldest server reads an aggregate with a consumer.
    store
        .ensure_streams(&[StreamKind::Proposals])
        .await
        .expect("streams");
    let ns = store.namespace().clone();
    let (subject, other) = (
        ns.subject(StreamKind::Proposals, Uuid::new_v4()),
        ns.subject(StreamKind::Proposals, Uuid::new_v4()),
    );
    let sequences = interleaved(&store, &subject, &other, 3).await;
    let read = store
        .read(StreamKind::Proposals, &subject, 1, sequences[2])
        .await
        .expect("read");
    assert_eq!(
        read.iter().map(|s| s.sequence).collect::<Vec<_>>(),
        sequences
    );
}

#[tokio::test]
async fn two_hundred_atomic_decisions_at_once_on_one_stream_are_all_stored() {
    let store = store().await;
    assert!(store.capabilities().atomic_batch);
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams");
    let appends = (0..200).map(|_| {
        let store = store.clone();
        async move {
            let subject = store
                .namespace()
                .subject(StreamKind::Proposals, Uuid::new_v4());
            let events: Vec<Pending> = (0..2)
                .map(|i| Pending {
                    id: Uuid::new_v4(),
                    payload: Bytes::from(format!("{{\"i\":{i}}}")),
                })
                .collect();
            store.append(&subject, 0, &events).await
        }
    });
    let results = futures::future::join_all(appends).await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(
        store
            .stream_last_sequence(StreamKind::Proposals)
            .await
            .expect("last"),
        400
    );
    store.delete_streams().await.expect("cleanup");
}

/// Found by the simulation (regression seed 144): two ledger processes, one with a cached copy
/// of the fund from before the other opened it. A command decided on that copy was refused for
/// good (`fund_not_open` here; `commitment_shortfall` for a grant whose reservation the other
/// process had booked), because only a conflicting append made the shell read the fund again.
#[tokio::test]
async fn a_refusal_decided_on_a_stale_cached_copy_is_decided_again_on_the_store() {
    use buendel_contract::{Aggregate as _, Cents, Meta};
    use buendel_ledger::domain::Command;
    use buendel_runtime::repository::{ExecuteError, Outcome};

    let store = store().await;
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams");
    let (a, b) = (
        buendel_ledger::fund_repository(store.clone()),
        buendel_ledger::fund_repository(store.clone()),
    );
    let fund = "non-2021-2027";
    let today = buendel_testing::test_date();
    let meta = Meta {
        source: buendel_ledger::app::SOURCE.to_owned(),
        time: buendel_testing::test_now(),
        correlation_id: None,
        causation_id: None,
        actor: "test".to_owned(),
    };
    let reserve = Command::Reserve {
        proposal_id: Uuid::new_v4(),
        esf: Cents(100),
        land: Cents(0),
        today,
    };
    // A refuses: the fund is not open. It now holds a copy of the fund from before it opened.
    let refused = a
        .execute(fund, "first", &meta, |f| f.decide(&reserve))
        .await;
    assert!(
        matches!(refused, Err(ExecuteError::Domain(_))),
        "{refused:?}"
    );
    // B opens the fund.
    let allocate = Command::AllocateBudget {
        fund_id: fund.to_owned(),
        esf: Cents(1_000),
        land: Cents(1_000),
        commit_deadline: today + chrono::Days::new(365),
        today,
    };
    b.execute(fund, "open", &meta, |f| f.decide(&allocate))
        .await
        .expect("opened");
    // A decides on its stale copy, finds a refusal, reads the fund again and books.
    let booked = a
        .execute(fund, "second", &meta, |f| f.decide(&reserve))
        .await
        .expect("booked on the fund as it is");
    assert!(
        matches!(booked, Outcome::Appended(ref e) if e.len() == 1),
        "{booked:?}"
    );
    // A refusal that stands on the fund as it is stays a refusal.
    let too_much = Command::Reserve {
        proposal_id: Uuid::new_v4(),
        esf: Cents(-1),
        land: Cents(0),
        today,
    };
    let refused = a
        .execute(fund, "third", &meta, |f| f.decide(&too_much))
        .await;
    assert!(
        matches!(refused, Err(ExecuteError::Domain(_))),
        "{refused:?}"
    );
    store.delete_streams().await.expect("cleanup");
}

/// Appends `n` one-event decisions to `subject`, each after one on `other`, so the subject's
/// sequences are not contiguous; returns the subject's sequences.
async fn interleaved(store: &EventStore, subject: &str, other: &str, n: usize) -> Vec<u64> {
    let (mut last, mut last_other, mut sequences) = (0, 0, Vec::with_capacity(n));
    for i in 0..n {
        let event = |tag: &str| {
            vec![Pending {
                id: Uuid::new_v4(),
                payload: Bytes::from(format!("{{\"{tag}\":{i}}}")),
            }]
        };
        last_other = store
            .append(other, last_other, &event("b"))
            .await
            .expect("b")[0];
        last = store.append(subject, last, &event("a")).await.expect("a")[0];
        sequences.push(last);
    }
    sequences
}

#[tokio::test]
async fn an_aggregate_is_read_by_a_batched_direct_get_and_past_one_batch_by_a_consumer() {
    let store = store().await;
    assert!(store.capabilities().batch_get, "the pinned server is 2.11+");
    store
        .ensure_streams(&[StreamKind::Proposals])
        .await
        .expect("streams");
    let ns = store.namespace().clone();
    let (long, other, short) = (
        ns.subject(StreamKind::Proposals, Uuid::new_v4()),
        ns.subject(StreamKind::Proposals, Uuid::new_v4()),
        ns.subject(StreamKind::Proposals, Uuid::new_v4()),
    );
    // Given an aggregate of 150 events (more than one batch) between another's, and one of 5
    let sequences = interleaved(&store, &long, &other, 150).await;
    let other_short = ns.subject(StreamKind::Proposals, Uuid::new_v4());
    let short_sequences = interleaved(&store, &short, &other_short, 5).await;
    let without_batches = store
        .clone()
        .with_capabilities(buendel_runtime::store::Capabilities::of_version("2.10.0"));
    for reader in [&store, &without_batches] {
        // When each is read whole, from a middle event, and up to a middle event
        let whole = reader
            .read(StreamKind::Proposals, &long, 1, sequences[149])
            .await
            .expect("read");
        let from_middle = reader
            .read(StreamKind::Proposals, &long, sequences[100], sequences[149])
            .await
            .expect("read");
        let to_middle = reader
            .read(
                StreamKind::Proposals,
                &long,
                sequences[3] + 1,
                sequences[70],
            )
            .await
            .expect("read");
        // Then each read gives exactly the subject's events in the range, in order
        let seqs = |read: &[buendel_runtime::store::Stored]| {
            read.iter().map(|s| s.sequence).collect::<Vec<_>>()
        };
        assert_eq!(seqs(&whole), sequences);
        assert_eq!(seqs(&from_middle), sequences[100..]);
        assert_eq!(seqs(&to_middle), sequences[4..=70]);
        assert!(whole.iter().all(|s| s.subject == long));
        assert_eq!(&whole[42].payload[..], b"{\"a\":42}");
        let short_read = reader
            .read(StreamKind::Proposals, &short, 1, short_sequences[4])
            .await
            .expect("read");
        assert_eq!(seqs(&short_read), short_sequences);
    }
    // And a short aggregate read by a batched get leaves no consumer on the server to expire
    let before = consumers(&store).await;
    store
        .read(StreamKind::Proposals, &short, 1, short_sequences[4])
        .await
        .expect("read");
    assert_eq!(consumers(&store).await, before, "no consumer made");
    without_batches
        .read(StreamKind::Proposals, &short, 1, short_sequences[4])
        .await
        .expect("read");
    assert_eq!(
        consumers(&store).await,
        before + 1,
        "the consumer path made one"
    );
    store.delete_streams().await.expect("cleanup");
}

async fn consumers(store: &EventStore) -> usize {
    let mut stream = store.stream(StreamKind::Proposals).await.expect("stream");
    stream.info().await.expect("info").state.consumer_count
}
