//! The real `portcullis-console` binary on a pseudo-terminal: its stdin, stdout and stderr are the
//! terminal's slave side (it is the session leader with that terminal as its controlling one), and the
//! test reads the master side as a person reads the screen and types answers into it.

use std::{
    fs::File,
    io::{Read, Write},
    os::unix::{fs::OpenOptionsExt, process::CommandExt},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// A running console.
pub struct Console {
    child: Child,
    input: File,
    screen: Arc<Mutex<Vec<u8>>>,
    /// How much of the screen [`Console::expect_next`] has read past.
    cursor: usize,
}

impl Console {
    /// Starts the binary with `args` and `env` (and no other `APP_…`/`PORTCULLIS_…` variable, no
    /// browser) on a new pseudo-terminal.
    pub fn spawn(args: &[&str], env: &[(String, String)]) -> Self {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("a pseudo-terminal");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let slave_path = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
            .open(slave_path.to_str().expect("a UTF-8 path"))
            .expect("the slave side");

        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis-console"));
        command.args(args);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("APP_")
                || key.starts_with("PORTCULLIS_")
                || matches!(
                    key.as_ref(),
                    "BROWSER" | "DISPLAY" | "WAYLAND_DISPLAY" | "NO_COLOR"
                )
            {
                command.env_remove(key.as_ref());
            }
        }
        command
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("TERM", "dumb")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec only async-signal-safe system calls are made (setsid, ioctl).
        unsafe {
            command.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(std::io::stdin())?;
                Ok(())
            });
        }
        let child = command.spawn().expect("the console starts");
        // The parent's copies of the slave side are gone with `command`, so reading the master ends
        // (EIO) once the console has exited.
        drop(command);

        let master = File::from(master);
        let input = master.try_clone().expect("dup");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut master = master;
            let mut buffer = [0u8; 4096];
            while let Ok(n) = master.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Self {
            child,
            input,
            screen,
            cursor: 0,
        }
    }

    /// Everything shown so far.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the screen shows `needle`; returns the screen.
    pub async fn expect(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                start.elapsed() < timeout,
                "waited {timeout:?} for {needle:?}; the screen shows:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the screen shows `needle` after what earlier calls read; returns the screen from
    /// there up to and including it, and reads past it.
    pub async fn expect_next(&mut self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            {
                let screen = self.screen.lock().unwrap();
                let unread = &screen[self.cursor.min(screen.len())..];
                if let Some(at) = unread
                    .windows(needle.len())
                    .position(|w| w == needle.as_bytes())
                {
                    let seen = String::from_utf8_lossy(&unread[..at + needle.len()]).into_owned();
                    self.cursor += at + needle.len();
                    return seen;
                }
            }
            assert!(
                start.elapsed() < timeout,
                "waited {timeout:?} for {needle:?}; the screen shows:\n{}",
                self.screen()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses Ctrl-C (the terminal sends SIGINT to the console).
    pub fn interrupt(&mut self) {
        self.input
            .write_all(&[3])
            .expect("typing into the terminal");
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        self.input
            .write_all(format!("{line}\n").as_bytes())
            .expect("typing into the terminal");
    }

    /// Waits for the console to exit; its exit code and the whole screen.
    pub async fn finish(&mut self, timeout: Duration) -> (i32, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the console's status") {
                // Let the reader drain what is left on the terminal.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return (status.code().unwrap_or(-1), self.screen());
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!(
                    "the console did not exit within {timeout:?}; the screen shows:\n{}",
                    self.screen()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
