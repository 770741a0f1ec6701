//! Test servers: real nats-server nodes and clusters from the project's pinned binaries, and private
//! Postgres clusters, each on free loopback ports and removed afterwards.
//!
//! - [`nats_url`]: one node per test process, shared by its tests (each test has its own namespace).
//!   It is started on first use and stops when the process ends, however it ends: it runs under a
//!   small shell that waits for its stdin to close (the test process's end of a pipe).
//! - [`NatsServer`] and [`NatsCluster`]: nodes a test owns, to stop, kill and restart them.
//! - [`PrivatePostgres`]: an `initdb` cluster a test may stop and start.
//! - [`fresh_namespace`] and [`NamespaceGuard`]: a namespace per test, removed when the test ends
//!   however it ends.
//!
//! The binaries come from `scripts/install-nats.sh` (into `.tools/nats/<version>/`, git-ignored).
//! `BUENDEL_TEST_NATS_VERSION` picks the version of the shared node (default [`NATS_VERSION`]).
//! A missing binary is an error that names the install command; no test is skipped for lack of it.
//!
//! The tests never read today's date: [`test_date`] is the business date they run on
//! (`BUENDEL_TEST_DATE`, default [`TEST_DATE_DEFAULT`]); the services under test get a clock that
//! starts on it, and fixtures build their dates from it. The README's test command runs the suite on
//! two dates, one at each end of the programme.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use uuid::Uuid;

mod namespace;
mod postgres;

pub use namespace::{fresh_namespace, NamespaceGuard};
pub use postgres::PrivatePostgres;

/// The nats-server the tests run on: the current pinned release.
pub const NATS_VERSION: &str = "2.12.8";
/// The oldest nats-server Bündel supports; a smoke subset runs on it.
pub const NATS_VERSION_OLDEST: &str = "2.10.26";
/// The business date of the tests when `BUENDEL_TEST_DATE` is not set.
pub const TEST_DATE_DEFAULT: &str = "2026-01-05";

/// The business date the tests run on: `BUENDEL_TEST_DATE` (YYYY-MM-DD), else
/// [`TEST_DATE_DEFAULT`].
///
/// # Panics
/// When `BUENDEL_TEST_DATE` is not a date.
pub fn test_date() -> NaiveDate {
    static DATE: OnceLock<NaiveDate> = OnceLock::new();
    *DATE.get_or_init(|| {
        let raw = std::env::var("BUENDEL_TEST_DATE").unwrap_or_else(|_| TEST_DATE_DEFAULT.into());
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .unwrap_or_else(|_| panic!("BUENDEL_TEST_DATE={raw:?} is not a date YYYY-MM-DD"))
    })
}

/// The clock the services under test run on: started on [`test_date`] at the first call, one for
/// the whole test process.
pub fn test_clock() -> buendel_runtime::Clock {
    static CLOCK: OnceLock<buendel_runtime::Clock> = OnceLock::new();
    *CLOCK.get_or_init(|| buendel_runtime::Clock::starting_on(test_date()))
}

/// The tests' time: [`test_clock`]'s reading (noon UTC of [`test_date`] at the first call,
/// running on from there).
pub fn test_now() -> DateTime<Utc> {
    test_clock().now()
}

/// [`test_date`] plus `days` (negative for earlier).
///
/// # Panics
/// When the date leaves chrono's range.
pub fn test_day(days: i64) -> NaiveDate {
    test_date()
        .checked_add_signed(TimeDelta::days(days))
        .expect("a date in range")
}

/// How long a node may take to accept connections.
pub const START_TIMEOUT_MS: u64 = 15_000;

/// The path of the pinned nats-server binary of `version`.
///
/// # Panics
/// When it is not installed, naming the command that installs it.
pub fn nats_binary(version: &str) -> PathBuf {
    let path = workspace_root()
        .join(".tools/nats")
        .join(version)
        .join("bin/nats-server");
    assert!(
        path.exists(),
        "nats-server {version} is not installed at {}: run scripts/install-nats.sh {version}",
        path.display()
    );
    path
}

/// The URL of this test process's shared node (started on first use).
pub fn nats_url() -> String {
    static SHARED: OnceLock<String> = OnceLock::new();
    static KEEP: OnceLock<Mutex<Option<ChildStdin>>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let version = std::env::var("BUENDEL_TEST_NATS_VERSION")
                .unwrap_or_else(|_| NATS_VERSION.to_owned());
            let (url, stdin) = start_watched(&version);
            // Holding the pipe keeps the node alive; the process's exit closes it.
            let _ = KEEP.set(Mutex::new(Some(stdin)));
            url
        })
        .clone()
}

/// Starts a node under a shell that removes it when its stdin closes.
fn start_watched(version: &str) -> (String, ChildStdin) {
    let binary = nats_binary(version);
    let port = free_port();
    let dir = scratch_dir("nats");
    let script = r#"bin=$1; shift; dir=$1; shift
"$bin" "$@" & pid=$!
cat >/dev/null
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir""#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(&binary)
        .arg(&dir)
        .args(node_args(port, &dir, None))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    wait_accepting(port);
    let stdin = child.stdin.take().expect("piped stdin");
    // The shell is reaped by init once the process has gone; nothing to wait for here.
    std::mem::forget(child);
    (format!("nats://127.0.0.1:{port}"), stdin)
}

fn node_args(port: u16, dir: &Path, config: Option<&Path>) -> Vec<String> {
    let mut args = vec![
        "-a".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        port.to_string(),
        "-js".to_owned(),
        "-sd".to_owned(),
        dir.join("js").display().to_string(),
    ];
    if let Some(config) = config {
        args.push("-c".to_owned());
        args.push(config.display().to_string());
    }
    args
}

/// A nats-server node a test owns; stopped and removed when dropped.
pub struct NatsServer {
    /// The running process (`None` while stopped).
    child: Option<Child>,
    /// Its client port.
    pub port: u16,
    /// Its directory (store, config, log).
    dir: PathBuf,
    /// The binary it runs.
    binary: PathBuf,
    /// Its configuration file, for cluster nodes.
    config: Option<PathBuf>,
}

impl NatsServer {
    /// Starts a single node of `version` on a free port.
    pub fn start(version: &str) -> Self {
        let mut server = Self {
            child: None,
            port: free_port(),
            dir: scratch_dir("nats"),
            binary: nats_binary(version),
            config: None,
        };
        server.restart();
        server
    }

    /// Starts a single node of `version` on a free port with `config` as its configuration file
    /// (e.g. an `authorization` block; the port and store come from the command line).
    pub fn start_with_config(version: &str, config: &str) -> Self {
        let dir = scratch_dir("nats");
        let path = dir.join("node.conf");
        std::fs::write(&path, config).expect("config written");
        let mut server = Self {
            child: None,
            port: free_port(),
            dir,
            binary: nats_binary(version),
            config: Some(path),
        };
        server.restart();
        server
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Its client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it with SIGKILL, as a crash would (its store stays for a restart).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and store, and waits until it accepts connections.
    pub fn restart(&mut self) {
        if let Err(failed) = self.try_restart() {
            panic!("{failed}");
        }
    }

    /// [`NatsServer::restart`], answering why it did not start: the wait and its log's end.
    fn try_restart(&mut self) -> Result<(), String> {
        self.kill();
        let log = std::fs::File::create(self.dir.join("log")).expect("log file");
        let child = Command::new(&self.binary)
            .args(node_args(self.port, &self.dir, self.config.as_deref()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        if let Err(waited) = accepting_within(self.port) {
            let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("{waited}; its log ends:\n{}", tail.join("\n")));
        }
        Ok(())
    }

    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A cluster of nodes on loopback, each with JetStream, routes to all the others.
pub struct NatsCluster {
    /// The nodes, in order.
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` clustered nodes of `version`; on a port another process took meanwhile
    /// (`address already in use`), the whole cluster again on other ports, up to three times.
    pub fn start(version: &str, size: usize) -> Self {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::try_start(version, size) {
                Ok(cluster) => return cluster,
                Err(failed) if attempt < 3 && failed.contains("address already in use") => {}
                Err(failed) => panic!("{failed}"),
            }
        }
    }

    fn try_start(version: &str, size: usize) -> Result<Self, String> {
        let name = format!("c{}", &Uuid::new_v4().simple().to_string()[..8]);
        let cluster_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let mut nodes: Vec<NatsServer> = (0..size)
            .map(|i| {
                let dir = scratch_dir("nats");
                let routes: Vec<String> = cluster_ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, p)| format!("\"nats-route://127.0.0.1:{p}\""))
                    .collect();
                let config = dir.join("node.conf");
                // The store directory comes from `-sd` (see `node_args`).
                let text = format!(
                    "server_name: n{i}\ncluster {{\n  name: {name}\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                    cluster_ports[i],
                    routes.join(", ")
                );
                let mut file = std::fs::File::create(&config).expect("config");
                file.write_all(text.as_bytes()).expect("config written");
                NatsServer {
                    child: None,
                    port: free_port(),
                    dir,
                    binary: nats_binary(version),
                    config: Some(config),
                }
            })
            .collect();
        for node in &mut nodes {
            node.try_restart()?;
        }
        Ok(Self { nodes })
    }

    /// The client URLs of every node, comma-separated (as `NATS_URL` takes them).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node listening on `port`, if any.
    pub fn node_on(&mut self, port: u16) -> Option<&mut NatsServer> {
        self.nodes.iter_mut().find(|n| n.port == port)
    }
}

/// Waits until something accepts connections on the loopback `port`.
fn wait_accepting(port: u16) {
    if let Err(waited) = accepting_within(port) {
        panic!("{waited}");
    }
}

/// Polls until something accepts connections on the loopback `port`, for [`START_TIMEOUT_MS`].
fn accepting_within(port: u16) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_millis(START_TIMEOUT_MS);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() >= deadline {
            return Err(format!(
                "nothing accepted connections on 127.0.0.1:{port} within {START_TIMEOUT_MS} ms"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A fresh directory under the temp dir.
pub(crate) fn scratch_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("buendel-{kind}-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The ports [`free_port`] draws from: below Linux's ephemeral range (32768–60999), from which the
/// kernel takes both `bind(0)` ports and the local ports of outgoing connections, so a port drawn
/// here is not taken by a client's connection between the draw and the server's bind (a cluster
/// node once failed to start on `address already in use` for its route port that way).
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A loopback port nobody listens on right now, drawn at random from [`TEST_PORTS`] (parallel
/// test processes rarely draw the same one, and a node that does is started again elsewhere).
pub fn free_port() -> u16 {
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    for _ in 0..1_000 {
        let draw = Uuid::new_v4().as_u128() as u32 % span;
        let port = TEST_PORTS.start + draw as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}
