//! The `veil` server under test: started from the generated estate (and restarted from its
//! store), and the process's peak memory.

use super::*;

pub(crate) struct ServerProcess(pub(crate) Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `veil serve` on a free port and waits for its health check; returns the process, the
/// port and the seconds from spawn to the first healthy answer.
pub(crate) async fn start_server(
    arguments: &Arguments,
    store: &str,
    config: Option<&std::path::Path>,
    log_path: &std::path::Path,
    extra: &[&str],
) -> anyhow::Result<(ServerProcess, u16, f64)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // The server's warnings go to a file, so they cannot interleave with the figures.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let started = Instant::now();
    let mut command = Command::new(&arguments.veil);
    command.args([
        "serve",
        "--store",
        store,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.args(extra);
    let child = command
        .env("VEIL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", arguments.veil.display()))?;
    let server = ServerProcess(child);
    loop {
        if started.elapsed() > Duration::from_secs(120) {
            anyhow::bail!("the server did not become ready within 120 s");
        }
        if let Ok(channel) = Channel::from_shared(format!("http://127.0.0.1:{port}"))?
            .connect()
            .await
        {
            let mut health = HealthClient::new(channel);
            if health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
            {
                return Ok((server, port, started.elapsed().as_secs_f64()));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `VmHWM` of a running process, as `/proc` reports it.
pub(crate) fn peak_memory(pid: u32) -> String {
    status_line(pid, "VmHWM:")
}

/// `VmRSS` of a running process: what it holds now.
pub(crate) fn resident_memory(pid: u32) -> String {
    status_line(pid, "VmRSS:")
}

fn status_line(pid: u32, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name).map(|value| value.trim().to_owned()))
        })
        .unwrap_or_default()
}
