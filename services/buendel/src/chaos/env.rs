//! The chaos run's own world: a three-node NATS cluster from the pinned binary, a private Postgres
//! cluster, and the services as child processes of the `buendel` binary, each of which can be
//! killed with SIGKILL and started again. Nothing outside it is touched; dropping it removes it all.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::process::{Child, Command};

use buendel_contract::namespace::StreamKind;
use buendel_runtime::{EventStore, Settings};
use buendel_testing::{NatsCluster, PrivatePostgres, NATS_VERSION};

/// Nodes in the cluster (R3 streams).
pub const NODES: usize = 3;
/// How often a wait polls.
pub const POLL_EVERY_MS: u64 = 100;
/// How long the cluster may take to form, or to heal after a node restart.
pub const CLUSTER_READY_S: u64 = 90;
/// A service process that exits on its own is started again after this pause.
const RESPAWN_AFTER_MS: u64 = 300;

/// Polls `probe` every [`POLL_EVERY_MS`] until it yields, for at most `limit`.
pub async fn poll<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "timed out after {} s waiting for {what}",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(POLL_EVERY_MS)).await;
    }
}

/// Runs a blocking step of the test servers (they start processes and wait on ports) off the
/// runtime; a panic in it (a server that would not start) becomes an error.
async fn blocking<T: Send + 'static>(
    what: &str,
    step: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(step)
        .await
        .map_err(|e| anyhow::anyhow!("{what} failed: {e}"))
}

/// The servers of one run.
pub struct Servers {
    /// The NATS nodes (a std mutex: it is only locked inside blocking steps).
    cluster: Arc<Mutex<NatsCluster>>,
    /// The Postgres cluster.
    postgres: Arc<PrivatePostgres>,
    /// Every node's client URL, comma-separated.
    pub nats_urls: String,
    /// The Postgres URL (the namespace names the database).
    pub database_url: String,
}

impl Servers {
    /// Starts the cluster and Postgres and waits until JetStream answers.
    pub async fn start() -> anyhow::Result<Self> {
        let cluster = blocking("starting the NATS cluster", || {
            NatsCluster::start(NATS_VERSION, NODES)
        })
        .await?;
        let nats_urls = cluster.urls();
        let postgres = blocking("starting Postgres", PrivatePostgres::start).await?;
        let database_url = postgres.url();
        let servers = Self {
            cluster: Arc::new(Mutex::new(cluster)),
            postgres: Arc::new(postgres),
            nats_urls,
            database_url,
        };
        let urls = servers.nats_urls.clone();
        poll(
            "the cluster's JetStream to answer",
            Duration::from_secs(CLUSTER_READY_S),
            || async {
                let client = buendel_runtime::connect::nats(&urls, "buendel-chaos-probe")
                    .await
                    .ok()?;
                let js = async_nats::jetstream::new(client);
                js.query_account().await.ok().map(|_| ())
            },
        )
        .await?;
        Ok(servers)
    }

    /// Kills node `index` with SIGKILL (its store stays).
    pub async fn kill_node(&self, index: usize) -> anyhow::Result<()> {
        let cluster = self.cluster.clone();
        blocking("killing a NATS node", move || {
            if let Ok(mut cluster) = cluster.lock() {
                if let Some(node) = cluster.nodes.get_mut(index) {
                    node.kill();
                }
            }
        })
        .await
    }

    /// Starts node `index` again on its port and store.
    pub async fn restart_node(&self, index: usize) -> anyhow::Result<()> {
        let cluster = self.cluster.clone();
        blocking("restarting a NATS node", move || {
            if let Ok(mut cluster) = cluster.lock() {
                if let Some(node) = cluster.nodes.get_mut(index) {
                    node.restart();
                }
            }
        })
        .await
    }

    /// Stops Postgres (fast: connections are cut, as when the server goes down).
    pub async fn stop_postgres(&self) -> anyhow::Result<()> {
        let postgres = self.postgres.clone();
        blocking("stopping Postgres", move || postgres.stop()).await
    }

    /// Starts Postgres again and waits until it accepts connections.
    pub async fn start_postgres(&self) -> anyhow::Result<()> {
        let postgres = self.postgres.clone();
        blocking("starting Postgres", move || postgres.start_again()).await
    }
}

/// Whether every stream has a leader and every replica is current: the cluster has healed.
pub async fn cluster_healthy(store: &EventStore) -> Option<()> {
    for kind in StreamKind::ALL {
        let mut stream = store.stream(kind).await.ok()?;
        let info = stream.info().await.ok()?;
        let cluster = info.cluster.as_ref()?;
        cluster.leader.as_ref()?;
        let peers = &cluster.replicas;
        if peers.len() + 1 < NODES || peers.iter().any(|p| !p.current || p.offline) {
            return None;
        }
    }
    Some(())
}

/// One service process: which service, and its current child.
struct Slot {
    /// The slot's name in the report, e.g. `ledger-2`.
    name: String,
    /// The service it runs (`buendel serve <service>`).
    service: &'static str,
    /// Extra arguments (the API's listener).
    args: Vec<String>,
    /// The running process (`None` while killed and not yet restarted).
    child: Option<Child>,
    /// Kills by the fault schedule.
    kills: u32,
    /// Exits nobody asked for (each is started again).
    exits: u32,
}

/// The service processes of one run.
pub struct Services {
    /// The `buendel` binary.
    exe: PathBuf,
    /// Settings passed to every child through its environment.
    settings: Settings,
    /// Where the children's logs go (`None`: discarded).
    log_dir: Option<PathBuf>,
    /// The processes (a tokio mutex: killing and waiting are async).
    slots: tokio::sync::Mutex<Vec<Slot>>,
}

/// Kills and exits per slot, for the report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SlotCounts {
    /// SIGKILLs by the schedule.
    pub kills: u32,
    /// Exits nobody asked for (e.g. started while Postgres was down), each restarted.
    pub unplanned_exits: u32,
}

impl Services {
    /// The slots of a run: one process per service, two ledger instances.
    pub fn new(exe: PathBuf, settings: Settings, log_dir: Option<PathBuf>) -> Self {
        let api_port = buendel_testing::free_port();
        let slot = |name: &str, service: &'static str, args: Vec<String>| Slot {
            name: name.to_owned(),
            service,
            args,
            child: None,
            kills: 0,
            exits: 0,
        };
        let slots = vec![
            slot("submission", "submission", vec![]),
            slot("approval", "approval", vec![]),
            slot("ledger-1", "ledger", vec![]),
            slot("ledger-2", "ledger", vec![]),
            slot("projector", "projector", vec![]),
            slot(
                "api",
                "api",
                vec!["--http".into(), format!("127.0.0.1:{api_port}")],
            ),
        ];
        Self {
            exe,
            settings,
            log_dir,
            slots: tokio::sync::Mutex::new(slots),
        }
    }

    /// The slot names, in order.
    pub async fn names(&self) -> Vec<String> {
        self.slots
            .lock()
            .await
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    fn spawn(&self, slot: &Slot) -> anyhow::Result<Child> {
        let mut command = Command::new(&self.exe);
        if !self.settings.clock.is_system() {
            command.env("BUENDEL_CLOCK", self.settings.clock.today().to_string());
        }
        let stderr = match &self.log_dir {
            Some(dir) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{}.log", slot.name)))
                    .context("opening a service log")?;
                Stdio::from(file)
            }
            None => Stdio::null(),
        };
        command
            .args(["serve", slot.service])
            .args(&slot.args)
            .env("NATS_URL", &self.settings.nats_url)
            .env(
                "BUENDEL_STREAM_REPLICAS",
                self.settings.replicas.to_string(),
            )
            .env("DATABASE_URL", &self.settings.database_url)
            .env("BUENDEL_NAMESPACE", self.settings.namespace.as_str())
            // Several instances of one service run here: each its ops listener on a free port.
            .env("BUENDEL_OPS_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting `buendel serve {}`", slot.service))
    }

    /// Starts every slot that is not running.
    pub async fn start_all(&self) -> anyhow::Result<()> {
        let mut slots = self.slots.lock().await;
        for index in 0..slots.len() {
            if slots[index].child.is_none() {
                let child = self.spawn(&slots[index])?;
                slots[index].child = Some(child);
            }
        }
        Ok(())
    }

    /// Kills slot `index` with SIGKILL and reaps it; false when it was not running.
    pub async fn kill(&self, index: usize) -> anyhow::Result<bool> {
        let mut slots = self.slots.lock().await;
        let slot = slots.get_mut(index).context("no such slot")?;
        let Some(mut child) = slot.child.take() else {
            return Ok(false);
        };
        // `start_kill` sends SIGKILL; waiting reaps the process.
        let _ = child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        slot.kills += 1;
        Ok(true)
    }

    /// Stops slot `index` with SIGKILL outside the fault schedule (not counted as a kill).
    pub async fn stop(&self, index: usize) {
        let mut slots = self.slots.lock().await;
        if let Some(mut child) = slots.get_mut(index).and_then(|s| s.child.take()) {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }

    /// Starts slot `index` again (if it is not running).
    pub async fn restart(&self, index: usize) -> anyhow::Result<()> {
        let mut slots = self.slots.lock().await;
        let slot = slots.get(index).context("no such slot")?;
        if slot.child.is_none() {
            let child = self.spawn(slot)?;
            if let Some(slot) = slots.get_mut(index) {
                slot.child = Some(child);
            }
        }
        Ok(())
    }

    /// Whether slot `index` is running.
    pub async fn is_running(&self, index: usize) -> bool {
        self.slots
            .lock()
            .await
            .get(index)
            .is_some_and(|s| s.child.is_some())
    }

    /// The index of the (first) slot of `service`.
    pub async fn index_of(&self, service: &str) -> Option<usize> {
        self.slots
            .lock()
            .await
            .iter()
            .position(|s| s.service == service)
    }

    /// Starts again every process that exited on its own; runs until dropped.
    pub async fn supervise(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_millis(RESPAWN_AFTER_MS)).await;
            let mut slots = self.slots.lock().await;
            for index in 0..slots.len() {
                let exited = slots[index]
                    .child
                    .as_mut()
                    .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
                if exited {
                    slots[index].exits += 1;
                    slots[index].child = self.spawn(&slots[index]).ok();
                }
            }
        }
    }

    /// Kills and exits per slot.
    pub async fn counts(&self) -> BTreeMap<String, SlotCounts> {
        self.slots
            .lock()
            .await
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    SlotCounts {
                        kills: s.kills,
                        unplanned_exits: s.exits,
                    },
                )
            })
            .collect()
    }

    /// Kills every process and waits for them.
    pub async fn kill_all(&self) {
        let mut slots = self.slots.lock().await;
        for slot in slots.iter_mut() {
            if let Some(mut child) = slot.child.take() {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            }
        }
    }
}
