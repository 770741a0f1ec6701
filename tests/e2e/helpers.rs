//! `spawn_app()`: a whole Bündel in a fresh namespace, polling with a deadline, and commands built
//! from the contract's typed structs ([`TestApp::send`], [`submit`]).

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;
use uuid::Uuid;

use buendel::system::{Parts, System};
use buendel_contract::commands::{ApplicantInput, CommandData, Submit, Vote};
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{ProjectType, Terms};
use buendel_contract::reply::Reply;
use buendel_contract::review::VoteChoice;
use buendel_contract::Namespace;
use buendel_contract::{BasisPoints, Cents};
use buendel_runtime::{db, EventStore, Settings};

/// How long a test waits for the system to reach a state before failing.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often it looks.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// A running system in its own namespace.
pub struct TestApp {
    /// Its settings (fresh namespace).
    pub settings: Settings,
    /// The running services.
    pub system: Option<System>,
    /// The event store of the namespace.
    pub store: EventStore,
    /// A NATS connection for publishing and requests.
    pub client: async_nats::Client,
    /// The read-model pool.
    pub pool: sqlx::PgPool,
    /// Removes the namespace (streams and database) if the test ends before [`TestApp::cleanup`].
    guard: buendel_testing::NamespaceGuard,
}

/// A fresh, valid namespace.
pub fn fresh_namespace() -> Namespace {
    buendel_testing::fresh_namespace()
}

/// Starts every service in a fresh namespace.
pub async fn spawn_app() -> TestApp {
    spawn_parts(
        fresh_namespace(),
        Parts {
            api: None,
            ..Parts::all(([127, 0, 0, 1], 0).into())
        },
    )
    .await
}

/// The settings of a test in namespace `ns`: this process's test NATS node, the local Postgres.
pub fn test_settings(ns: Namespace) -> Settings {
    Settings {
        nats_url: buendel_testing::nats_url(),
        clock: buendel_testing::test_clock(),
        ..Settings::local(ns)
    }
}

/// Every service (the API router is used in process) in a fresh namespace on the NATS servers at
/// `nats_url`, with streams of `replicas` replicas.
pub async fn spawn_all_on(nats_url: String, replicas: usize) -> TestApp {
    let settings = Settings {
        nats_url,
        replicas,
        ..test_settings(fresh_namespace())
    };
    spawn_parts_with(
        settings,
        Parts {
            api: None,
            ..Parts::all(([127, 0, 0, 1], 0).into())
        },
    )
    .await
}

/// Runs a projector of the app's namespace with `limits` until the token is cancelled.
pub fn spawn_projector(
    app: &TestApp,
    limits: buendel_projector::RunnerLimits,
) -> (
    buendel_runtime::CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let shutdown = buendel_runtime::CancellationToken::new();
    let task = tokio::spawn(buendel_projector::run_with(
        app.store.clone(),
        app.pool.clone(),
        limits,
        shutdown.clone(),
    ));
    (shutdown, task)
}

/// Starts the chosen services in a namespace.
pub async fn spawn_parts(ns: Namespace, parts: Parts) -> TestApp {
    spawn_parts_with(test_settings(ns), parts).await
}

/// Starts the chosen services with these settings (another Postgres, say).
pub async fn spawn_parts_with(settings: Settings, parts: Parts) -> TestApp {
    buendel_runtime::telemetry::init(buendel_runtime::settings::LogFormat::Text);
    // Guarded before anything is created, so a start that fails halfway leaves nothing either.
    let guard =
        buendel_testing::NamespaceGuard::new(&settings.nats_url, settings.namespace.clone())
            .with_database(&settings.database_url);
    let system = System::start(&settings, parts)
        .await
        .expect("system starts");
    TestApp {
        store: system.store.clone(),
        client: system.client.clone(),
        pool: system.pool.clone(),
        system: Some(system),
        settings,
        guard,
    }
}

impl TestApp {
    /// A handle on the namespace of services that run in `system` (and others beside it), for
    /// publishing, commands, reads and the cleanup; it stops none of them.
    pub fn over(system: &System, settings: Settings) -> Self {
        let guard =
            buendel_testing::NamespaceGuard::new(&settings.nats_url, settings.namespace.clone())
                .with_database(&settings.database_url);
        TestApp {
            store: system.store.clone(),
            client: system.client.clone(),
            pool: system.pool.clone(),
            system: None,
            settings,
            guard,
        }
    }

    /// Stops the services (the namespace stays).
    pub async fn stop_services(&mut self) {
        if let Some(system) = self.system.take() {
            system.stop().await.expect("services stop cleanly");
        }
    }

    /// Stops everything and deletes the namespace: streams and database.
    pub async fn cleanup(mut self) {
        self.stop_services().await;
        self.store.delete_streams().await.expect("streams deleted");
        self.pool.close().await;
        let options =
            db::options(&self.settings.database_url, &self.settings.namespace).expect("options");
        db::drop_database(&options).await.expect("database dropped");
        self.guard.disarm();
    }

    /// Publishes raw bytes to the intake with `Nats-Msg-Id` = `msg_id`.
    pub async fn publish_intake(&self, msg_id: Uuid, bytes: Vec<u8>) -> u64 {
        let subject = self.settings.namespace.subject(StreamKind::Intake, "test");
        self.store
            .publish(&subject, msg_id, bytes.into())
            .await
            .expect("published")
    }

    /// Publishes to the intake until the server stores the message as new (not as a duplicate
    /// inside INTAKE's window of [`buendel_runtime::store::INTAKE_DUPLICATE_WINDOW_MS`]); returns
    /// its sequence, which is above `after`.
    pub async fn publish_intake_anew(&self, msg_id: Uuid, bytes: Vec<u8>, after: u64) -> u64 {
        eventually("stored outside INTAKE's duplicate window", || async {
            let sequence = self.publish_intake(msg_id, bytes.clone()).await;
            (sequence > after).then_some(sequence)
        })
        .await
    }

    /// Publishes a CloudEvent to the intake (its id as `Nats-Msg-Id`).
    pub async fn publish_event(&self, event: &Value) -> u64 {
        let id = event["id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_else(Uuid::new_v4);
        self.publish_intake(id, serde_json::to_vec(event).expect("json"))
            .await
    }

    /// Waits until the submission service has acknowledged every INTAKE message up to `sequence`.
    pub async fn intake_consumed(&self, sequence: u64) {
        let ns = &self.settings.namespace;
        eventually(&format!("INTAKE consumed up to {sequence}"), || async {
            let stream = self
                .store
                .jetstream()
                .get_stream(ns.stream(StreamKind::Intake))
                .await
                .ok()?;
            let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
                .get_consumer(&ns.durable("submission", StreamKind::Intake))
                .await
                .ok()?;
            let info = consumer.info().await.ok()?;
            (info.ack_floor.stream_sequence >= sequence).then_some(())
        })
        .await;
    }

    /// Sends a typed command to its service as the `office`, with a fresh command id.
    pub async fn send<T: CommandData>(&self, command: &T) -> Reply {
        self.send_as(Uuid::new_v4(), command).await
    }

    /// Sends a typed command to its service as the `office`, under `command_id`.
    pub async fn send_as<T: CommandData>(&self, command_id: Uuid, command: &T) -> Reply {
        let payload = buendel::commands::envelope(command_id, "office", command);
        self.command(T::SERVICE.as_str(), T::NAME, payload).await
    }

    /// Sends a typed command to its service as `actor`, with a fresh command id.
    pub async fn send_by<T: CommandData>(&self, actor: &str, command: &T) -> Reply {
        let payload = buendel::commands::envelope(Uuid::new_v4(), actor, command);
        self.command(T::SERVICE.as_str(), T::NAME, payload).await
    }

    /// Sends a command request as given (for requests no type can build) and returns the reply.
    pub async fn command(&self, service: &str, command: &str, payload: Value) -> Reply {
        let prefix = self.settings.namespace.command_prefix(service);
        buendel::commands::request(&self.client, &prefix, command, &payload)
            .await
            .expect("reply")
    }

    /// `GET path` through the API router; returns the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, bytes) = self.get_bytes(path).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `GET path` through the API router; returns the body as text (for `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        let (_, bytes) = self.get_bytes(path).await;
        String::from_utf8_lossy(&bytes).into_owned()
    }

    async fn get_bytes(&self, path: &str) -> (u16, bytes::Bytes) {
        let app = buendel_api::app(
            buendel_api::AppState::new(self.pool.clone()).with_clock(self.settings.clock),
        );
        let request = axum::http::Request::get(path)
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, bytes)
    }

    /// Replays LEDGER online and compares it with the read models: nothing may fail or differ.
    pub async fn assert_audit_clean(&self) {
        assert_audit_clean(&self.store, &self.pool).await;
    }

    /// Polls `GET path` until `ready(body)` holds; returns that body.
    pub async fn get_until(&self, path: &str, ready: impl Fn(u16, &Value) -> bool) -> Value {
        eventually(path, || async {
            let (status, body) = self.get(path).await;
            ready(status, &body).then_some(body)
        })
        .await
    }
}

/// Replays LEDGER of `store` online and compares it with the read models of `pool`: nothing may
/// fail or differ. The read models follow the stream, so the comparison waits until the projector
/// has applied everything LEDGER holds now.
pub async fn assert_audit_clean(store: &EventStore, pool: &sqlx::PgPool) {
    let last = store
        .stream_last_sequence(StreamKind::Ledger)
        .await
        .expect("LEDGER's last sequence");
    eventually("the read models to apply all of LEDGER", || async {
        let applied = buendel_projector::checkpoint::checkpoint(pool, StreamKind::Ledger)
            .await
            .ok()?;
        (applied >= last).then_some(())
    })
    .await;
    let report = buendel_audit::online::verify_online(
        store,
        Some(pool),
        &buendel_audit::report::Options::default(),
        |_, _| {},
    )
    .await
    .expect("the audit runs");
    assert!(report.first_failure.is_none(), "{:?}", report.first_failure);
    assert!(report.differences.is_empty(), "{:?}", report.differences);
}

/// Polls `probe` until it yields a value, failing the test after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, DEADLINE, probe).await
}

/// Polls `probe` until it yields a value, failing the test after `limit`.
pub async fn eventually_within<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// A valid `submitted` CloudEvent for a new proposal of `non`.
pub fn submitted_event(proposal_id: Uuid) -> Value {
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4(),
        "source": "/test/portal",
        "type": "buendel.proposal.submitted.v1",
        "subject": proposal_id,
        "datacontenttype": "application/json",
        "data": submitted_data(proposal_id),
    })
}

/// The `data` of a valid submission, as JSON.
pub fn submitted_data(proposal_id: Uuid) -> Value {
    submit(proposal_id).to_data()
}

/// A valid submission of a new proposal of `non`, starting 30 days after the test date.
pub fn submit(proposal_id: Uuid) -> Submit {
    Submit {
        proposal_id,
        alliance_id: "non".into(),
        applicant: ApplicantInput {
            name: "Bildungswerk Heidekreis e.V.".into(),
            kind: "verein".into(),
            district: "heidekreis".into(),
        },
        terms: Terms {
            title: "Ausbildungsbotschafter:innen Heidekreis".into(),
            summary: "Trainees visit schools.".into(),
            project_type: ProjectType::Structure,
            focus_areas: vec!["dual_training".into()],
            districts: vec!["heidekreis".into()],
            planned_start: buendel_testing::test_day(30),
            duration_months: 18,
            eligible_cost_cents: Cents(30_000_000),
            requested_rate_bp: BasisPoints(7_000),
        },
    }
}

/// A partner's vote on a proposal, without a comment.
pub fn vote(proposal_id: Uuid, partner: &str, choice: VoteChoice) -> Vote {
    Vote {
        proposal_id,
        partner_id: partner.to_owned(),
        vote: choice,
        comment: None,
    }
}
