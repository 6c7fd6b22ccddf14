//! For tests only (feature `testing`): a throw-away PostgreSQL server started from Debian's binaries
//! (package `postgresql`, which `.ci/setup` installs), on a free loopback port, its data in a temporary
//! folder, stopped when dropped. As root (CI) PostgreSQL runs as the `postgres` user, since it refuses
//! to run as root.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running throw-away PostgreSQL server.
pub struct TempPostgres {
    child: Child,
    url: String,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl TempPostgres {
    /// Initialises a cluster (trust authentication, user `portcullis`) and starts it; waits until it
    /// accepts connections (`pg_isready`). Panics with the reason when it cannot (a test helper).
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let data = dir.path().join("data");
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the cluster folder failed");
        }
        let status = pg_command("initdb")
            .args(["-A", "trust", "-U", "portcullis", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = pg_command("postgres")
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        // Ready when it accepts connections (listening comes earlier, during start-up).
        let started = Instant::now();
        while !pg_command("pg_isready")
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|status| status.success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "PostgreSQL did not accept connections within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("postgres://portcullis@127.0.0.1:{port}/postgres"),
            data,
            _dir: dir,
        }
    }

    /// `postgres://portcullis@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        // As root the child is `runuser`, and killing it leaves PostgreSQL running (until it notices
        // its folder is gone, a minute later): the cluster is stopped itself, nothing kept.
        let _ = pg_command("pg_ctl")
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The newest installed version's binary `name`.
fn pg_bin(name: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<_> = std::fs::read_dir(root)
        .expect("PostgreSQL server binaries (Debian package postgresql; .ci/setup installs it)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions
        .last()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(name)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A PostgreSQL binary; as root, run as the `postgres` user.
fn pg_command(name: &str) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(pg_bin(name));
        command
    } else {
        Command::new(pg_bin(name))
    }
}
