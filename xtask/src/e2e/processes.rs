//! The supervisor of the processes a run starts (Trino, the PDP): each in its own process group,
//! all stopped on success, error, panic, Ctrl-C and SIGTERM.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

/// Process groups to kill if the xtask itself is interrupted.
static PROCESS_GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// The processes this run started. Dropping it stops them all, whatever happened before.
pub(super) struct Processes {
    running: Vec<(&'static str, Child)>,
}

impl Processes {
    pub(super) fn new() -> Result<Self> {
        static HANDLER: std::sync::Once = std::sync::Once::new();
        let mut installed = Ok(());
        HANDLER.call_once(|| {
            installed = ctrlc::set_handler(|| {
                let groups = PROCESS_GROUPS
                    .lock()
                    .map(|groups| groups.clone())
                    .unwrap_or_default();
                for group in groups {
                    signal_group(group, "KILL");
                }
                eprintln!("xtask: interrupted; stopped every process it started");
                std::process::exit(130);
            });
        });
        installed.context("installing the Ctrl-C handler")?;
        Ok(Processes {
            running: Vec::new(),
        })
    }

    /// Starts a process in its own process group, its output going to `log`.
    pub(super) fn spawn(
        &mut self,
        name: &'static str,
        mut command: Command,
        log: &Path,
    ) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let output = fs::OpenOptions::new().create(true).append(true).open(log)?;
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        if let Ok(mut groups) = PROCESS_GROUPS.lock() {
            groups.push(child.id());
        }
        self.running.push((name, child));
        Ok(())
    }

    pub(super) fn ensure_running(&mut self, name: &str, log: &Path) -> Result<()> {
        for (running, child) in &mut self.running {
            if *running != name {
                continue;
            }
            if let Some(status) = child.try_wait()? {
                let text = fs::read_to_string(log).unwrap_or_default();
                bail!(
                    "{name} exited with {status}; last lines of {}:\n{}",
                    log.display(),
                    tail(&text, 40)
                );
            }
        }
        Ok(())
    }

    /// Sends a signal to a running process (not its group).
    pub(super) fn signal(&mut self, name: &str, signal: &str) -> Result<()> {
        let (_, child) = self
            .running
            .iter()
            .find(|(running, _)| *running == name)
            .ok_or_else(|| anyhow!("{name} is not running"))?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()?;
        ensure!(
            status.success(),
            "kill -{signal} {name} failed with {status}"
        );
        Ok(())
    }

    pub(super) fn stop(&mut self, name: &str) -> Result<()> {
        let index = self
            .running
            .iter()
            .position(|(running, _)| *running == name)
            .ok_or_else(|| anyhow!("{name} is not running"))?;
        let (_, child) = self.running.remove(index);
        terminate(child);
        Ok(())
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        while let Some((_, child)) = self.running.pop() {
            terminate(child);
        }
    }
}

/// SIGTERM to the process group, SIGKILL if it has not exited after a grace period.
fn terminate(mut child: Child) {
    let group = child.id();
    signal_group(group, "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    // Also reaps anything else left in the group.
    signal_group(group, "KILL");
    let _ = child.wait();
    if let Ok(mut groups) = PROCESS_GROUPS.lock() {
        groups.retain(|other| *other != group);
    }
}

fn signal_group(group: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{group}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last `lines` lines of `text`.
pub(super) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
