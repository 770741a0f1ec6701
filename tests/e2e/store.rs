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
