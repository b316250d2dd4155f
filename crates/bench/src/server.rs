//! The `veil` server under test: started from the generated estate (and restarted from its
//! store), one user edited at scale, and the process's peak memory.

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

/// One admin edit at this scale, as an operator makes it: the user behind `request` joins `g0`,
/// the group every domain's subscription shuts out. Reports how long `PutEntity` takes to
/// validate, commit and publish, and when `GetViewDefinition` first answers by the new policy.
pub(crate) async fn edit_one_user(channel: &Channel, request: &Bytes) -> anyhow::Result<()> {
    use v1::policy_admin_client::PolicyAdminClient;
    let mut admin = PolicyAdminClient::new(channel.clone());
    let user = <GetViewDefinitionRequest as prost::Message>::decode(request.clone())?
        .identity
        .context("bench requests carry an identity")?
        .user;
    let yaml = admin
        .get_entity(v1::GetEntityRequest {
            kind: v1::EntityKind::User.into(),
            name: user.clone(),
        })
        .await?
        .into_inner()
        .yaml;
    let mut spec: veil_policy::UserSpec = serde_norway::from_str(&yaml)?;
    spec.groups.push("g0".into());
    let started = Instant::now();
    admin
        .put_entity(v1::PutEntityRequest {
            kind: v1::EntityKind::User.into(),
            yaml: serde_norway::to_string(&spec)?,
            dry_run: false,
        })
        .await?;
    let committed = started.elapsed();
    loop {
        let answer = raw::call(
            channel.clone(),
            "/veil.v1.PolicyDecision/GetViewDefinition",
            request.clone(),
        )
        .await;
        match answer {
            Err(status) if status.code() == tonic::Code::NotFound => break,
            Ok(_) if started.elapsed() < Duration::from_secs(60) => {}
            other => anyhow::bail!("after the edit, GetViewDefinition answered {other:?}"),
        }
    }
    println!(
        "one user edit (PutEntity, {user} joins g0): committed and published in {:.0} ms; \
         GetViewDefinition answers by it {:.0} ms after the request was sent",
        committed.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// `VmHWM` of a running process, as `/proc` reports it.
pub(crate) fn peak_memory(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")
                    .map(|value| value.trim().to_owned())
            })
        })
        .unwrap_or_default()
}
