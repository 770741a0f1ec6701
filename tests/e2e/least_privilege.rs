//! Least privilege on a real nats-server started with the configuration `buendel creds generate`
//! writes, and Postgres roles made by `buendel migrate`: every service runs as its own NATS user
//! and role, the whole path from intake to commitment works, and what an identity may not do is
//! refused by the server (logged once, answered with an error) with nothing appended.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

use buendel::creds::Identity;
use buendel::system::{Parts, System};
use buendel_contract::commands::{AllocateBudget, CommandData, IssueStatement};
use buendel_contract::namespace::StreamKind;
use buendel_contract::reply::Reply;
use buendel_contract::review::{Verdict, VoteChoice};
use buendel_contract::{Cents, Namespace};
use buendel_runtime::settings::{Actors, Setup};
use buendel_runtime::{connect, db, EventStore, Settings};
use buendel_testing::NatsServer;

use crate::helpers::{eventually, fresh_namespace, submitted_event, test_settings, vote};
use crate::review::{grant, NON_PARTNERS};

/// A namespace on its own server with authentication, and the credentials of its identities.
struct Secured {
    server: NatsServer,
    dir: PathBuf,
    ns: Namespace,
}

impl Secured {
    fn start() -> Self {
        let ns = fresh_namespace();
        let dir = std::env::temp_dir().join(format!("buendel-creds-{}", Uuid::new_v4().simple()));
        let mut extra = vec![
            Identity::publisher("portal").expect("publisher"),
            Identity::operator("office.anna").expect("office"),
            Identity::operator("bank.dora").expect("bank"),
        ];
        for partner in NON_PARTNERS {
            extra.push(Identity::partner(&format!("non.{partner}")).expect("partner"));
        }
        let generated = buendel::creds::generate(&ns, &dir, &extra).expect("credentials");
        let config = std::fs::read_to_string(&generated.config).expect("auth.conf");
        let server = NatsServer::start_with_config(buendel_testing::NATS_VERSION, &config);
        Self { server, dir, ns }
    }

    fn seed(&self, identity: &str) -> PathBuf {
        self.dir.join(format!("{identity}.nk"))
    }

    /// The settings of a process running as `identity`, with the database role `role`.
    fn settings(&self, identity: &str, role: Option<db::Role>) -> Settings {
        let base = test_settings(self.ns.clone());
        let database_url = match role {
            Some(role) => format!("postgres://{}@127.0.0.1:5432", role.name(&self.ns)),
            None => base.database_url.clone(),
        };
        Settings {
            nats_url: self.server.url(),
            nats_nkey: Some(self.seed(identity)),
            setup: Setup::Check,
            actors: Actors::Authenticated,
            database_url,
            ..base
        }
    }

    /// A connection as `identity` whose server errors (refused permissions) arrive on the channel.
    async fn connect(
        &self,
        identity: &str,
    ) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
        let seed = connect::read_seed(&self.seed(identity)).expect("seed");
        let public = nkeys::KeyPair::from_seed(&seed).expect("seed").public_key();
        let (tx, rx) = mpsc::unbounded_channel();
        let client = async_nats::ConnectOptions::with_nkey(seed)
            .custom_inbox_prefix(connect::inbox_prefix(&public))
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    if let async_nats::Event::ServerError(error) = event {
                        let _ = tx.send(error.to_string());
                    }
                }
            })
            .connect(self.server.url())
            .await
            .expect("connected");
        (client, rx)
    }

    fn violations(&self) -> usize {
        self.server.log().matches("Publish Violation").count()
    }
}

impl Drop for Secured {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `data` as the command `service.name` on `<name>.as.<identity>`.
async fn send_as(
    client: &async_nats::Client,
    ns: &Namespace,
    identity: &str,
    service: &str,
    name: &str,
    data: Value,
) -> Reply {
    let payload = json!({"command_id": Uuid::new_v4(), "data": data});
    buendel::commands::request(
        client,
        &ns.command_prefix(service),
        &format!("{name}.as.{identity}"),
        &payload,
    )
    .await
    .expect("a reply")
}

async fn typed_as<T: CommandData>(
    client: &async_nats::Client,
    ns: &Namespace,
    identity: &str,
    command: &T,
) -> Reply {
    send_as(
        client,
        ns,
        identity,
        T::SERVICE.as_str(),
        T::NAME,
        command.to_data(),
    )
    .await
}

/// Publishes `subject` as a connection that may not, and waits for the server's refusal.
async fn refused(
    client: &async_nats::Client,
    errors: &mut mpsc::UnboundedReceiver<String>,
    subject: String,
) -> String {
    client
        .publish(subject.clone(), "{}".into())
        .await
        .expect("sent");
    client.flush().await.expect("flushed");
    let error = tokio::time::timeout(Duration::from_secs(10), errors.recv())
        .await
        .unwrap_or_else(|_| panic!("no refusal for {subject}"))
        .expect("an error");
    assert!(
        error.contains("Permissions Violation") && error.contains(&subject),
        "{subject}: {error}"
    );
    error
}

async fn last(store: &EventStore, kind: StreamKind) -> u64 {
    store.stream_last_sequence(kind).await.expect("stream")
}

#[tokio::test]
async fn every_service_runs_as_itself_and_each_identity_is_held_to_its_own_subjects() {
    let secured = Secured::start();
    let ns = secured.ns.clone();
    // Given the namespace made by the owner's one `buendel migrate`
    let owner = Settings {
        setup: Setup::Apply,
        actors: Actors::Declared,
        ..secured.settings("owner", None)
    };
    buendel::system::migrate(&owner).await.expect("migrated");
    let (owner_client, _) = secured.connect("owner").await;
    let store = EventStore::new(owner_client.clone(), ns.clone());

    // And every service started with its own user, its own role, only checking the set-up
    let mut systems = Vec::new();
    for (service, parts, role) in [
        (
            "submission",
            Parts {
                submission: true,
                ..Parts::none()
            },
            None,
        ),
        (
            "approval",
            Parts {
                approval: true,
                ..Parts::none()
            },
            None,
        ),
        (
            "ledger",
            Parts {
                ledger: true,
                ..Parts::none()
            },
            None,
        ),
        (
            "projector",
            Parts {
                projector: true,
                ..Parts::none()
            },
            Some(db::Role::Writer),
        ),
        (
            "api",
            Parts {
                api: Some(([127, 0, 0, 1], 0).into()),
                ..Parts::none()
            },
            Some(db::Role::Reader),
        ),
    ] {
        let settings = secured.settings(&format!("service.{service}"), role);
        systems.push(System::start(&settings, parts).await.expect(service));
    }
    let log = buendel::system::LogPart {
        key: std::sync::Arc::new(
            buendel_transparency::LogKey::generate("buendel.test/least-privilege").expect("key"),
        ),
        witnesses: vec![],
        limits: buendel_transparency::LogServiceLimits {
            cadence_ms: 3_600_000,
            ..buendel_transparency::LogServiceLimits::default()
        },
    };
    let log_settings = secured.settings("service.log", Some(db::Role::Writer));
    let log_parts = Parts {
        log: Some(log),
        ..Parts::none()
    };
    systems.push(System::start(&log_settings, log_parts).await.expect("log"));
    let reader = db::connect(
        &secured
            .settings("service.api", Some(db::Role::Reader))
            .database_url,
        &ns,
        db::PoolLimits::default(),
    )
    .await
    .expect("the reader connects");

    // When the office allocates the budget, as itself
    let (office, _) = secured.connect("office.anna").await;
    let allocation = AllocateBudget {
        fund_id: "non-2021-2027".into(),
        esf_cents: Cents(100_000_000),
        land_cents: Cents(20_000_000),
        commit_deadline: chrono::NaiveDate::from_ymd_opt(2027, 12, 31).expect("date"),
    };
    let reply = typed_as(&office, &ns, "office.anna", &allocation).await;
    assert!(reply.is_ok(), "{reply:?}");

    // And the portal publishes a proposal to its intake subject
    let (portal, mut portal_errors) = secured.connect("publisher.portal").await;
    let portal_js = async_nats::jetstream::new(portal.clone());
    let proposal_id = Uuid::new_v4();
    let event = submitted_event(proposal_id);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event["id"].as_str().expect("id"));
    portal_js
        .publish_with_headers(
            ns.subject(StreamKind::Intake, "portal"),
            headers,
            serde_json::to_vec(&event).expect("json").into(),
        )
        .await
        .expect("published")
        .await
        .expect("stored");

    // Then the partners vote as themselves once the review is open
    let mut partners = Vec::new();
    for partner in &NON_PARTNERS[..9] {
        let identity = format!("partner.non.{partner}");
        let (client, errors) = secured.connect(&identity).await;
        partners.push((identity, client, errors));
    }
    eventually("the review is open", || async {
        let (identity, client, _) = &partners[0];
        let reply = typed_as(
            client,
            &ns,
            identity,
            &vote(proposal_id, NON_PARTNERS[0], VoteChoice::Yes),
        )
        .await;
        reply.is_ok().then_some(())
    })
    .await;
    for ((identity, client, _), partner) in partners.iter().zip(NON_PARTNERS).skip(1) {
        let reply = typed_as(
            client,
            &ns,
            identity,
            &vote(proposal_id, partner, VoteChoice::Yes),
        )
        .await;
        assert!(reply.is_ok(), "{identity}: {reply:?}");
    }

    // And partner A cannot vote as partner B: not in B's name on A's subject ...
    let reviews_before = last(&store, StreamKind::Reviews).await;
    let (a_identity, a_client, a_errors) = &mut partners[0];
    let as_b = typed_as(
        a_client,
        &ns,
        a_identity,
        &vote(proposal_id, "aa-celle", VoteChoice::No),
    )
    .await;
    assert_eq!(as_b.code(), Some("not_this_partner"), "{as_b:?}");
    // ... nor on B's subject, nor on the plain subject with a declared actor
    let violations_before = secured.violations();
    refused(
        a_client,
        a_errors,
        format!(
            "{}.vote.as.partner.non.aa-celle",
            ns.command_prefix("approval")
        ),
    )
    .await;
    refused(
        a_client,
        a_errors,
        format!("{}.vote", ns.command_prefix("approval")),
    )
    .await;
    // And a partner's identity cannot issue the statement
    refused(
        a_client,
        a_errors,
        format!(
            "{}.issue_statement.as.{a_identity}",
            ns.command_prefix("approval")
        ),
    )
    .await;
    assert_eq!(
        last(&store, StreamKind::Reviews).await,
        reviews_before,
        "nothing appended"
    );

    // And the services take no declared actor, even from the owner, nor another actor than the
    // subject's
    let declared = buendel::commands::request(
        &owner_client,
        &ns.command_prefix("approval"),
        "issue_statement",
        &json!({"command_id": Uuid::new_v4(), "actor": "office.anna", "data": {"proposal_id": proposal_id, "verdict": "positive"}}),
    )
    .await
    .expect("a reply");
    assert_eq!(
        declared.code(),
        Some("actor_not_authenticated"),
        "{declared:?}"
    );
    let mismatch = buendel::commands::request(
        &office,
        &ns.command_prefix("approval"),
        "issue_statement.as.office.anna",
        &json!({"command_id": Uuid::new_v4(), "actor": "bank.dora", "data": {"proposal_id": proposal_id, "verdict": "positive"}}),
    )
    .await
    .expect("a reply");
    assert_eq!(mismatch.code(), Some("actor_mismatch"), "{mismatch:?}");
    assert_eq!(
        last(&store, StreamKind::Reviews).await,
        reviews_before,
        "nothing appended"
    );

    // When the office issues the statement and the bank grants, each as itself
    let statement = IssueStatement {
        proposal_id,
        verdict: Verdict::Positive,
        conditions: None,
    };
    let reply = typed_as(&office, &ns, "office.anna", &statement).await;
    assert!(reply.is_ok(), "{reply:?}");
    let (bank, _) = secured.connect("bank.dora").await;
    let reply = typed_as(&bank, &ns, "bank.dora", &grant(proposal_id)).await;
    assert!(reply.is_ok(), "{reply:?}");

    // Then the ledger commits the money and the projector, with the writer's role, shows it to
    // the reader's role
    let state = buendel_api::AppState::new(reader.clone()).with_clock(owner.clock);
    let path = format!("/v1/proposals/{proposal_id}");
    let body = eventually("the proposal is projected as granted", || async {
        let (status, body) = buendel_api::get_json(state.clone(), &path)
            .await
            .expect("the API reads");
        (status == 200 && body["status"] == "granted").then_some(body)
    })
    .await;
    assert_eq!(body["status"], "granted");
    // And the recorded actors are the authenticated identities
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT actor FROM proposal_timeline WHERE proposal_id = $1 ORDER BY actor",
    )
    .bind(proposal_id)
    .fetch_all(&reader)
    .await
    .expect("timeline");
    assert!(actors.contains(&"bank.dora".to_owned()), "{actors:?}");
    assert!(actors.contains(&"office.anna".to_owned()), "{actors:?}");

    // And the auditor, with its own user and the reader's role, finds the ledger whole
    let (audit_client, _) = secured.connect("service.audit").await;
    crate::helpers::assert_audit_clean(&EventStore::new(audit_client, ns.clone()), &reader).await;

    // And the transparency log, as its own user and the writer's role, logs every ledger event
    let ledger_last = last(&store, StreamKind::Ledger).await;
    let tree = buendel_transparency::TreeStore::new(reader.clone());
    eventually("the ledger's log caught up", || async {
        let head = tree.head(buendel_transparency::Log::Ledger).await.ok()?;
        (head.last_seq >= ledger_last).then_some(())
    })
    .await;

    // When the API's user tries to write a stream or call a command, the server refuses it
    let (api, mut api_errors) = secured.connect("service.api").await;
    let reviews_before = last(&store, StreamKind::Reviews).await;
    let ledger_before = last(&store, StreamKind::Ledger).await;
    for kind in StreamKind::ALL {
        refused(&api, &mut api_errors, ns.subject(kind, "x")).await;
    }
    refused(
        &api,
        &mut api_errors,
        format!("{}.allocate_budget", ns.command_prefix("ledger")),
    )
    .await;
    refused(
        &api,
        &mut api_errors,
        format!(
            "{}.allocate_budget.as.office.anna",
            ns.command_prefix("ledger")
        ),
    )
    .await;
    // And the ledger's user cannot write REVIEWS, the portal reaches only its intake
    let (ledger_user, mut ledger_errors) = secured.connect("service.ledger").await;
    refused(
        &ledger_user,
        &mut ledger_errors,
        ns.subject(StreamKind::Reviews, proposal_id),
    )
    .await;
    refused(
        &portal,
        &mut portal_errors,
        ns.subject(StreamKind::Proposals, proposal_id),
    )
    .await;
    refused(
        &portal,
        &mut portal_errors,
        ns.subject(StreamKind::Intake, "bank"),
    )
    .await;
    refused(
        &portal,
        &mut portal_errors,
        format!(
            "{}.record_grant.as.publisher.portal",
            ns.command_prefix("approval")
        ),
    )
    .await;
    refused(
        &portal,
        &mut portal_errors,
        "$JS.API.STREAM.DELETE.X".replace('X', &ns.stream(StreamKind::Intake)),
    )
    .await;
    assert_eq!(
        last(&store, StreamKind::Ledger).await,
        ledger_before,
        "nothing appended"
    );
    assert_eq!(
        last(&store, StreamKind::Reviews).await,
        reviews_before,
        "nothing appended"
    );
    // And each refusal was logged once by the server
    assert_eq!(
        secured.violations() - violations_before,
        3 + StreamKind::ALL.len() + 2 + 5
    );

    // And an unauthenticated connection is refused
    let anonymous = connect::nats_as(&secured.server.url(), "anonymous", None).await;
    let error = format!("{:#}", anonymous.expect_err("refused"));
    assert!(error.contains("authorization violation"), "{error}");
    assert!(
        error.contains("requires credentials: set NATS_NKEY"),
        "{error}"
    );

    // In Postgres: the API's role cannot write, the projector's cannot change the schema
    let write = sqlx::query("DELETE FROM proposals").execute(&reader).await;
    assert_permission_denied(write);
    let writer = db::connect(
        &secured
            .settings("service.projector", Some(db::Role::Writer))
            .database_url,
        &ns,
        db::PoolLimits::default(),
    )
    .await
    .expect("the writer connects");
    assert_permission_denied(
        sqlx::query("ALTER TABLE proposals ADD COLUMN x int")
            .execute(&writer)
            .await,
    );
    assert_permission_denied(sqlx::query("CREATE TABLE x (y int)").execute(&writer).await);
    assert_permission_denied(sqlx::query("DROP TABLE proposals").execute(&writer).await);

    for system in systems {
        system.stop().await.expect("stops");
    }
    reader.close().await;
    writer.close().await;
    store.delete_streams().await.expect("streams deleted");
    let options = db::options(&owner.database_url, &ns).expect("options");
    db::drop_database(&options).await.expect("database dropped");
    db::drop_roles(&options, &ns).await.expect("roles dropped");
}

fn assert_permission_denied(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) {
    let error = result.expect_err("refused");
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    // 42501: insufficient privilege; 42P01 would mean the table is missing (not what is tested).
    assert!(
        matches!(code.as_deref(), Some("42501")),
        "{error} ({code:?})"
    );
}

#[tokio::test]
async fn a_service_that_only_checks_will_not_start_before_the_migration_and_says_so() {
    // Given a namespace nobody migrated
    let settings = Settings {
        setup: Setup::Check,
        ..test_settings(fresh_namespace())
    };
    // When a service that only checks starts, then it refuses, naming the step that is missing
    let parts = Parts {
        ledger: true,
        ..Parts::none()
    };
    let error = match System::start(&settings, parts).await {
        Ok(_) => panic!("it started on a namespace nobody migrated"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("does not exist: run `buendel migrate` first"),
        "{error}"
    );
    // And it created nothing
    let client = connect::nats(&settings.nats_url, "check")
        .await
        .expect("NATS");
    let store = EventStore::new(client, settings.namespace.clone());
    assert!(
        store.stream(StreamKind::Ledger).await.is_err(),
        "no stream made"
    );
}

/// A certificate authority and a certificate for 127.0.0.1 and localhost signed by it, made with
/// `openssl` into `dir`: (ca.pem, cert.pem, key.pem).
fn certificates(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (apt-get install openssl)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("extensions");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=buendel test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "cert.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[tokio::test]
async fn nats_and_postgres_take_tls_and_a_server_that_requires_it_refuses_plain_connections() {
    let dir = std::env::temp_dir().join(format!("buendel-tls-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("directory");
    let (ca, cert, key) = certificates(&dir);
    // Given a NATS server that takes TLS only
    let config = format!(
        "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let server = NatsServer::start_with_config(buendel_testing::NATS_VERSION, &config);
    // When a client verifies it by the CA, then it connects, and JetStream works over it
    let tls = connect::Tls {
        ca: Some(ca.clone()),
        client: None,
    };
    let client = connect::nats_with(&server.url(), "tls", None, &tls)
        .await
        .expect("a TLS connection");
    let ns = fresh_namespace();
    let store = EventStore::new(client, ns.clone());
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .expect("streams over TLS");
    // And a client without TLS is refused
    let plain = connect::nats_with(&server.url(), "plain", None, &connect::Tls::default()).await;
    assert!(
        plain.is_err(),
        "a plain connection to a server that requires TLS"
    );

    // Given a Postgres that takes TLS
    let postgres = buendel_testing::PrivatePostgres::start_with_tls(&cert, &key);
    // When the URL requires it, then the session is encrypted
    let ssl = |mode: String| {
        let url = format!("{}/postgres?sslmode={mode}", postgres.url());
        async move {
            let pool = db::connect(&url, &ns_of("postgres"), db::PoolLimits::default())
                .await
                .expect("connects");
            let ssl: bool =
                sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                    .fetch_one(&pool)
                    .await
                    .expect("pg_stat_ssl");
            pool.close().await;
            ssl
        }
    };
    assert!(ssl("require".into()).await, "sslmode=require encrypts");
    let verified = format!("verify-full&sslrootcert={}", ca.display());
    assert!(
        ssl(verified).await,
        "sslmode=verify-full checks the server by the CA"
    );
    assert!(
        !ssl("disable".into()).await,
        "the contrast: sslmode=disable does not encrypt"
    );
    drop(postgres);
    let _ = std::fs::remove_dir_all(&dir);
}

fn ns_of(name: &str) -> Namespace {
    Namespace::new(name).expect("namespace")
}
