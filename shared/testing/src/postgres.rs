//! A private Postgres cluster for a test that must stop and start Postgres: `initdb` in a fresh
//! directory, `pg_ctl` on a free loopback port, removed when dropped. Nothing else is touched.
//!
//! Postgres refuses to run as root, so as root (CI) the cluster runs as the `postgres` user.

use std::path::PathBuf;
use std::process::Command;

/// Where Debian's Postgres keeps its programs (overridden by `BUENDEL_PG_BIN`).
const PG_BIN_DEFAULT: &str = "/usr/lib/postgresql/15/bin";

/// A running (or stopped) private cluster.
pub struct PrivatePostgres {
    /// Its data directory (removed on drop).
    dir: PathBuf,
    /// Its loopback port.
    pub port: u16,
    /// The directory of `initdb` and `pg_ctl`.
    bin: PathBuf,
}

impl PrivatePostgres {
    /// Creates and starts a cluster on a free port.
    pub fn start() -> Self {
        let cluster = Self::init();
        cluster.start_again();
        cluster
    }

    /// Creates and starts a cluster on a free port that also takes TLS connections, with the
    /// PEM certificate and key given (`ssl = on`).
    pub fn start_with_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        let cluster = Self::init();
        let data = cluster.data();
        std::fs::copy(cert, data.join("server.crt")).expect("certificate copied");
        std::fs::copy(key, data.join("server.key")).expect("key copied");
        {
            use std::os::unix::fs::PermissionsExt as _;
            let private = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(data.join("server.key"), private).expect("key private");
        }
        if is_root() {
            for file in ["server.crt", "server.key"] {
                cluster.run(
                    Command::new("chown")
                        .arg("postgres:postgres")
                        .arg(data.join(file)),
                );
            }
        }
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("postgresql.conf");
        std::io::Write::write_all(&mut conf, b"\nssl = on\n").expect("ssl on");
        cluster.start_again();
        cluster
    }

    /// Creates a cluster on a free port (not started).
    fn init() -> Self {
        let bin = PathBuf::from(
            std::env::var("BUENDEL_PG_BIN").unwrap_or_else(|_| PG_BIN_DEFAULT.to_owned()),
        );
        assert!(
            bin.join("initdb").exists(),
            "no initdb in {} (apt-get install postgresql, or set BUENDEL_PG_BIN)",
            bin.display()
        );
        let dir = crate::scratch_dir("pg");
        let port = crate::free_port();
        let cluster = Self { dir, port, bin };
        if is_root() {
            cluster.run(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&cluster.dir),
            );
        }
        let data = cluster.data().display().to_string();
        cluster.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster
    }

    /// The URL of the cluster (without a database: the namespace names it).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Starts the (stopped) cluster and waits until it accepts connections.
    pub fn start_again(&self) {
        let data = self.data().display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.pg(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        );
    }

    /// Stops the cluster (fast: connections are closed, as when a server goes down).
    pub fn stop(&self) {
        let data = self.data().display().to_string();
        self.pg("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg(&self, program: &str, args: &[&str]) {
        let mut command = self.command(program);
        command.args(args);
        self.run(&mut command);
    }

    /// A Postgres program of the cluster's installation, run as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, command: &mut Command) {
        let output = command.output().expect("runs");
        assert!(
            output.status.success(),
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}
