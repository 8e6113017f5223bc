//! `mxconf serve` as a process of its own, for what only a real process shows: its log on
//! stderr, its answers to signals, its exit status. It listens on port 0 and the tests learn
//! the port from its "listening on" line; every wait is bounded and panics with the log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// Long enough for a loaded CI machine, short enough that a hang fails the test.
const WAIT: Duration = Duration::from_secs(30);

pub struct Served {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Served {
    /// `mxconf serve --listen 127.0.0.1:0 ARGS…` with `envs` added to the environment.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Served {
        Served::start_under(&[], args, envs)
    }

    /// The same, run through `wrapper` (e.g. `prlimit --nofile=…`, which execs it: same pid).
    pub fn start_under(wrapper: &[&str], args: &[&str], envs: &[(&str, &str)]) -> Served {
        let binary = assert_cmd::cargo::cargo_bin("mxconf");
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("NO_COLOR")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("MXCONF_CONFIG")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Served::spawn(command)
    }

    /// Runs `command` (stderr piped) and waits for its first listener.
    pub fn spawn(mut command: Command) -> Served {
        let mut child = command.spawn().expect("mxconf starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let writer = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                writer.0.lock().unwrap().push(line);
                writer.1.notify_all();
            }
        });
        let mut served = Served {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            log,
        };
        served.addr = served.listener("http");
        served
    }

    /// The (first) address its `scheme` (`http`, `https`) listener logged, waiting for it.
    pub fn listener(&self, scheme: &str) -> SocketAddr {
        let prefix = format!("{scheme}://");
        let line = self.wait_for(&format!("listening on {prefix}"));
        // The end of a text line, or inside a JSON line's message.
        let addr = line.rsplit(&prefix).next().unwrap();
        let addr = addr.split(['"', ' ']).next().unwrap();
        addr.parse()
            .unwrap_or_else(|_| panic!("an address in {line:?}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap()).unwrap()
    }

    pub fn signal(&self, signal: Signal) {
        rustix::process::kill_process(self.pid(), signal).expect("signal delivered");
    }

    /// Every line written so far.
    pub fn log(&self) -> String {
        self.log.0.lock().unwrap().join("\n")
    }

    /// How many lines so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// The first line containing `needle`, waiting for it.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_nth(needle, 1)
    }

    /// The `n`th line containing `needle` (from 1), waiting for it.
    pub fn wait_for_nth(&self, needle: &str, n: usize) -> String {
        let deadline = Instant::now() + WAIT;
        let (lines, changed) = &*self.log;
        let mut lines = lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().filter(|l| l.contains(needle)).nth(n - 1) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no line {n} with {needle:?} in:\n{}",
                lines.join("\n")
            );
            lines = changed.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Waits for the process to end.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "mxconf did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
