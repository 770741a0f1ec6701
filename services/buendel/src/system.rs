//! Running the services: all of them in one process (`buendel up`), or one alone (`buendel serve`).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use sqlx::PgPool;
use tokio::task::JoinSet;

use buendel_contract::namespace::StreamKind;
use buendel_runtime::db::{self, PoolLimits};
use buendel_runtime::settings::{Actors, Setup};
use buendel_runtime::{connect, CancellationToken, EventStore, Settings};

/// The transparency log's part of a [`System`]: its key and its witnesses.
#[derive(Debug, Clone)]
pub struct LogPart {
    /// The signing key.
    pub key: std::sync::Arc<buendel_transparency::LogKey>,
    /// The witnesses' submission prefixes.
    pub witnesses: Vec<String>,
    /// Its limits (the checkpoint cadence among them).
    pub limits: buendel_transparency::LogServiceLimits,
}

/// Which services a [`System`] runs.
#[derive(Debug, Clone)]
pub struct Parts {
    /// Intake, commands, screening.
    pub submission: bool,
    /// Partner review, statement, grant decision.
    pub approval: bool,
    /// The funding ledger.
    pub ledger: bool,
    /// Read models.
    pub projector: bool,
    /// The HTTP API, on this listener address.
    pub api: Option<SocketAddr>,
    /// The transparency logs, signing with this key.
    pub log: Option<LogPart>,
}

impl Parts {
    /// Every service, the API on `http`.
    pub fn all(http: SocketAddr) -> Self {
        Self {
            submission: true,
            approval: true,
            ledger: true,
            projector: true,
            api: Some(http),
            log: None,
        }
    }

    /// Nothing; switch on what you need.
    pub fn none() -> Self {
        Self {
            submission: false,
            approval: false,
            ledger: false,
            projector: false,
            api: None,
            log: None,
        }
    }
}

/// Running services in one process.
pub struct System {
    /// The NATS connection they share.
    pub client: async_nats::Client,
    /// The event store of the namespace.
    pub store: EventStore,
    /// The Postgres pool of the namespace.
    pub pool: PgPool,
    /// Where the HTTP API listens, if it runs.
    pub http: Option<SocketAddr>,
    /// Where `/healthz`, `/readyz` and `/metrics` are served, if they are.
    pub ops: Option<SocketAddr>,
    /// Cancel to stop everything.
    pub shutdown: CancellationToken,
    /// The running services.
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
}

/// Connects to NATS and Postgres (as the identity and role the settings name) and, as
/// `settings.setup` says, creates the streams and migrates the database or only checks them.
pub async fn prepare(
    settings: &Settings,
    name: &str,
) -> anyhow::Result<(async_nats::Client, EventStore, PgPool)> {
    let client = connect::nats_as(&settings.nats_url, name, settings.nats_nkey.as_deref()).await?;
    let check = settings.setup == Setup::Check;
    let store = EventStore::new(client.clone(), settings.namespace.clone())
        .with_replicas(settings.replicas)
        .check_only(check)
        .require_authenticated_actors(settings.actors == Actors::Authenticated);
    store
        .ensure_streams(&StreamKind::ALL)
        .await
        .context(if check {
            "checking the streams"
        } else {
            "creating or verifying the streams"
        })?;
    let pool = if check {
        db::connect_and_check(
            &settings.database_url,
            &settings.namespace,
            PoolLimits::default(),
        )
        .await?
    } else {
        db::connect_and_migrate(
            &settings.database_url,
            &settings.namespace,
            PoolLimits::default(),
        )
        .await?
    };
    Ok((client, store, pool))
}

/// `buendel migrate`: the one step with the owner's rights. Creates or updates the streams,
/// migrates the database and creates the namespace's Postgres roles with their grants.
pub async fn migrate(settings: &Settings) -> anyhow::Result<ExitCode> {
    let settings = Settings {
        setup: Setup::Apply,
        ..settings.clone()
    };
    let (_client, _store, pool) = prepare(&settings, "buendel-migrate").await?;
    db::create_roles(&pool, &settings.namespace).await?;
    let roles: Vec<String> = db::Role::ALL
        .iter()
        .map(|r| r.name(&settings.namespace))
        .collect();
    eprintln!(
        "namespace {}: {} streams ready, database migrated ({} migrations), roles {}",
        settings.namespace,
        StreamKind::ALL.len(),
        db::MIGRATOR.iter().count(),
        roles.join(" and ")
    );
    Ok(ExitCode::SUCCESS)
}

impl System {
    /// Starts the chosen services.
    pub async fn start(settings: &Settings, parts: Parts) -> anyhow::Result<Self> {
        let (client, store, pool) = prepare(settings, "buendel").await?;
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        if parts.submission {
            let rate = buendel_submission::PublisherRate {
                per_s: settings.intake_rate_per_s,
                burst: settings.intake_burst,
            };
            let running = buendel_submission::start(
                client.clone(),
                store.clone(),
                settings.clock,
                rate,
                shutdown.clone(),
            )
            .await?;
            tasks.spawn(async move { ("submission", flatten(running.await)) });
        }
        if parts.approval {
            let running = buendel_approval::start(
                client.clone(),
                store.clone(),
                settings.clock,
                shutdown.clone(),
            )
            .await?;
            tasks.spawn(async move { ("approval", flatten(running.await)) });
        }
        if parts.ledger {
            let running = buendel_ledger::start(
                client.clone(),
                store.clone(),
                settings.clock,
                buendel_ledger::Commit::of(settings.group_commit),
                shutdown.clone(),
            )
            .await?;
            tasks.spawn(async move { ("ledger", flatten(running.await)) });
        }
        if parts.projector {
            let (store, pool, shutdown) = (store.clone(), pool.clone(), shutdown.clone());
            tasks.spawn(async move {
                (
                    "projector",
                    buendel_projector::run(store, pool, shutdown).await,
                )
            });
        }
        if let Some(log) = &parts.log {
            let service = buendel_transparency::LogService::new(
                store.clone(),
                buendel_transparency::TreeStore::new(pool.clone()),
                &log.key,
                log.witnesses
                    .iter()
                    .map(|url| buendel_transparency::witness::WitnessClient::new(url))
                    .collect(),
                settings.clock,
                log.limits,
            )?;
            let (client, shutdown) = (client.clone(), shutdown.clone());
            tasks.spawn(async move { ("log", service.run(client, shutdown).await) });
        }
        let mut http = None;
        if let Some(addr) = parts.api {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}; choose another with --http"))?;
            http = Some(listener.local_addr()?);
            let state = buendel_api::AppState::new(pool.clone()).with_clock(settings.clock);
            let shutdown = shutdown.clone();
            tasks
                .spawn(async move { ("api", buendel_api::serve(listener, state, shutdown).await) });
        }
        let ops = match settings.ops_addr {
            Some(addr) => {
                let watched =
                    ops_of(&client, &store, &pool, &parts).with_stall_ms(settings.stall_ms);
                let (bound, task) = buendel_runtime::ops::serve(
                    addr,
                    std::sync::Arc::new(watched),
                    shutdown.clone(),
                )
                .await?;
                tasks.spawn(async move { ("ops", flatten(task.await)) });
                Some(bound)
            }
            None => None,
        };
        Ok(Self {
            client,
            store,
            pool,
            http,
            ops,
            shutdown,
            tasks,
        })
    }

    /// Stops every service and waits for them; the first failure is returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.join().await
    }

    /// Waits until a service ends (an error) or the shutdown token is cancelled, then stops all.
    pub async fn join(&mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            self.shutdown.cancel();
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(error))) => {
                    tracing::error!(service = name, error = %format!("{error:#}"), "service failed");
                    first_error.get_or_insert(error.context(format!("{name} failed")));
                }
                Err(error) => {
                    first_error.get_or_insert(anyhow::anyhow!("a service panicked: {error}"));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// What the ops listener of these parts watches: their durable consumers, Postgres where they use
/// it, the projection lag where the projector runs.
fn ops_of(
    client: &async_nats::Client,
    store: &EventStore,
    pool: &PgPool,
    parts: &Parts,
) -> buendel_runtime::ops::Ops {
    let ns = store.namespace();
    let mut ops = buendel_runtime::ops::Ops::new(client.clone(), store.clone());
    let mut durables = Vec::new();
    if parts.submission {
        durables.push((StreamKind::Intake, "submission"));
        durables.push((StreamKind::Reviews, "submission"));
    }
    if parts.approval {
        durables.push((StreamKind::Proposals, "approval"));
    }
    if parts.ledger {
        durables.push((StreamKind::Reviews, "ledger"));
    }
    if parts.projector {
        for kind in buendel_projector::STREAMS {
            durables.push((kind, buendel_projector::runner::SERVICE));
        }
        ops = ops.with_projected(&buendel_projector::STREAMS);
    }
    for (kind, service) in durables {
        ops = ops.with_durable(kind, ns.durable(service, kind));
    }
    if parts.projector || parts.api.is_some() || parts.log.is_some() {
        ops = ops.with_pool(pool.clone());
    }
    ops
}

/// The ops listener's address of `buendel serve <service>` when none is given.
pub fn default_ops_addr(service: &str) -> Option<SocketAddr> {
    let port = match service {
        "submission" => 9181,
        "approval" => 9182,
        "ledger" => 9183,
        "projector" => 9184,
        "log" => 9185,
        _ => return None,
    };
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn flatten(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    joined.map_err(|e| anyhow::anyhow!("panicked: {e}"))?
}

pub(crate) async fn until_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
            () = shutdown.cancelled() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    shutdown.cancel();
}

/// `buendel up`: every service in one process until Ctrl-C or SIGTERM.
pub async fn up(
    settings: Settings,
    http: SocketAddr,
    demo: bool,
    log: crate::tlog::LogArgs,
) -> anyhow::Result<ExitCode> {
    let key = if demo {
        Some(log.key_or_make(&settings)?)
    } else {
        log.key(&settings)?
    };
    if key.is_none() {
        eprintln!(
            "no signing key for the transparency log, so it does not run (see `buendel up --help`)"
        );
    }
    let parts = Parts {
        log: key.map(|key| log.part(key)),
        ..Parts::all(http)
    };
    let mut system = System::start(&settings, parts).await?;
    let addr = system.http.map_or_else(String::new, |a| a.to_string());
    eprintln!(
        "Bündel is up in namespace {ns}: HTTP API on http://{addr}, commands on {ns}.cmd.>, intake on {ns}.intake.>",
        ns = settings.namespace
    );
    if demo {
        let report = crate::demo::load(&system.client, &system.store, settings.clock).await?;
        eprintln!("demo: {report}");
        eprintln!("try: curl http://{addr}/v1/proposals");
    }
    tokio::spawn(until_signal(system.shutdown.clone()));
    system.join().await?;
    Ok(ExitCode::SUCCESS)
}

/// `buendel serve <service>`: one service alone.
pub async fn serve(
    settings: Settings,
    service: &str,
    http: SocketAddr,
    log: crate::tlog::LogArgs,
) -> anyhow::Result<ExitCode> {
    let parts = match service {
        "submission" => Parts {
            submission: true,
            ..Parts::none()
        },
        "approval" => Parts {
            approval: true,
            ..Parts::none()
        },
        "ledger" => Parts {
            ledger: true,
            ..Parts::none()
        },
        "projector" => Parts {
            projector: true,
            ..Parts::none()
        },
        "api" => Parts {
            api: Some(http),
            ..Parts::none()
        },
        "log" => Parts {
            log: Some(log.part(log.require_key(&settings)?)),
            ..Parts::none()
        },
        other => anyhow::bail!("unknown service {other:?}"),
    };
    // Every service but the API (whose own port serves them) has an ops listener.
    let settings = Settings {
        ops_addr: settings.ops_addr.or_else(|| default_ops_addr(service)),
        ..settings
    };
    let mut system = System::start(&settings, parts).await?;
    match system.ops {
        Some(ops) => eprintln!(
            "{service} is running in namespace {} (http://{ops}/readyz, /metrics)",
            settings.namespace
        ),
        None => eprintln!("{service} is running in namespace {}", settings.namespace),
    }
    tokio::spawn(until_signal(system.shutdown.clone()));
    system.join().await?;
    Ok(ExitCode::SUCCESS)
}

/// `buendel projections rebuild`: a new generation of the read models, built beside the live one
/// (resumed if an earlier rebuild left one, unless `restart`) and switched in for readers.
pub async fn rebuild(settings: &Settings, restart: bool) -> anyhow::Result<ExitCode> {
    let (_client, store, pool) = prepare(settings, "buendel-rebuild").await?;
    let mut progress = |p: &buendel_projector::Progress| {
        eprintln!(
            "rebuild: {} at {} of {} ({} events applied)",
            p.stream.suffix(),
            p.checkpoint,
            p.target,
            p.applied
        );
    };
    let limits = buendel_projector::RebuildLimits::default();
    let report = buendel_projector::rebuild(&store, &pool, &limits, restart, &mut progress).await?;
    if report.resumed {
        eprintln!("rebuild: resumed the generation an earlier rebuild left");
    }
    let checkpoints: Vec<String> = report
        .checkpoints
        .iter()
        .map(|(kind, at)| format!("{} {at}", kind.suffix()))
        .collect();
    eprintln!(
        "rebuild: switched to the new generation after {} attempt(s), {} events applied; \
         checkpoints {}",
        report.switch_attempts,
        report.applied,
        checkpoints.join(", ")
    );
    if !report.old_dropped {
        eprintln!(
            "rebuild: the old generation (schema rebuild_old) stays; the next rebuild drops it"
        );
    }
    Ok(ExitCode::SUCCESS)
}
