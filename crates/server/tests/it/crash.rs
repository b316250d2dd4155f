//! A `veil serve` killed with SIGKILL in the middle of applying bundles loses nothing it
//! acknowledged and never leaves half a bundle: after a restart the store holds exactly one of
//! the bundles, at a version no older than the last acknowledged one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{EXAMPLE, sqlite_url};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(store: &str, port: u16) -> Killed {
    Killed(
        Command::new(env!("CARGO_BIN_EXE_veil"))
            .args([
                "serve",
                "--store",
                store,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("VEIL_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn connect(
    port: u16,
) -> veil_proto::v1::policy_admin_client::PolicyAdminClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(client) = veil_proto::v1::policy_admin_client::PolicyAdminClient::connect(
            format!("http://127.0.0.1:{port}"),
        )
        .await
        {
            return client;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Bundle `n`: the example with many users whose attributes carry `n`, so every bundle differs
/// in many rows and a torn write would show.
fn bundle(n: usize) -> String {
    let mut text = EXAMPLE.replace(
        "purposes:\n",
        &format!("purposes:\n  - {{name: generation-{n}}}\n"),
    );
    let users: String = (0..300)
        .map(|user| format!("  - {{name: bulk{user}, attributes: {{generation: ['{n}']}}}}\n"))
        .collect();
    text = text.replace("users:\n", &format!("users:\n{users}"));
    text
}

#[tokio::test]
async fn a_kill_mid_write_loses_nothing_acknowledged() {
    let store = sqlite_url("crash");
    for round in 0..3 {
        let port = free_port();
        let server = serve(&store, port);
        let mut client = connect(port).await;
        // One write is acknowledged before the clock starts, however slow the machine.
        let first = veil_proto::v1::ApplyBundleRequest {
            yaml: bundle(round * 1000),
            dry_run: false,
        };
        let mut acknowledged = client
            .apply_bundle(first)
            .await
            .unwrap()
            .into_inner()
            .policy_version;
        let mut writes = 1;
        let started = Instant::now();
        let writer = async {
            for n in 1.. {
                let request = veil_proto::v1::ApplyBundleRequest {
                    yaml: bundle(round * 1000 + n),
                    dry_run: false,
                };
                match client.apply_bundle(request).await {
                    Ok(summary) => {
                        acknowledged = summary.into_inner().policy_version;
                        writes += 1;
                    }
                    Err(_) => break,
                }
            }
        };
        // Kill after a varying delay while writes are in flight.
        let _ = tokio::time::timeout(Duration::from_millis(300 + 170 * round as u64), writer).await;
        let mut server = server;
        server.0.kill().unwrap();
        server.0.wait().unwrap();
        assert!(
            acknowledged > 0,
            "round {round}: no write was acknowledged in {:?}",
            started.elapsed()
        );
        println!("round {round}: killed after {writes} acknowledged writes");

        let reopened = veil_store::Store::open(&store).await.unwrap();
        let (version, file) = reopened.load().await.unwrap();
        assert!(
            version >= acknowledged,
            "round {round}: acknowledged {acknowledged}, found {version}"
        );
        let generation = file
            .purposes
            .iter()
            .find_map(|purpose| purpose.name.strip_prefix("generation-"))
            .unwrap()
            .to_owned();
        assert_eq!(
            file.purposes.len(),
            2,
            "round {round}: one generation purpose"
        );
        assert!(
            file.users
                .iter()
                .filter(|user| user.name.starts_with("bulk"))
                .all(|user| user.attributes["generation"] == vec![generation.clone()]),
            "round {round}: users from two bundles: a torn write"
        );
        assert_eq!(
            file,
            veil_policy::Bundle::from_yaml(&bundle(generation.parse().unwrap())).unwrap(),
            "round {round}"
        );
    }
}
