//! A throwaway PostgreSQL server for the store tests: installed from Debian's package when
//! missing, initialised in a fresh directory under the system's temporary directory (the
//! `postgres` user must reach it, which a checkout under a private home may not allow), listening
//! on a free loopback port, stopped and removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    pub url: String,
}

fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Runs a command as the `postgres` system user (initdb refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

impl Postgres {
    pub fn start() -> anyhow::Result<Postgres> {
        let bin = match find_bin() {
            Some(bin) => bin,
            None => {
                eprintln!("xtask: installing PostgreSQL (Debian package)");
                run(Command::new("apt-get").args(["update", "-qq"]))?;
                run(Command::new("apt-get")
                    .args(["install", "-y", "-qq", "postgresql"])
                    .env("DEBIAN_FRONTEND", "noninteractive"))?;
                find_bin().context("postgresql installed but no initdb found")?
            }
        };
        let data = std::env::temp_dir().join(format!("veil-postgres-{}", std::process::id()));
        if data.exists() {
            std::fs::remove_dir_all(&data)?;
        }
        std::fs::create_dir_all(&data)?;
        run(Command::new("chown").args(["postgres:postgres"]).arg(&data))?;
        run(as_postgres(&bin.join("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            data.display()
        );
        run(as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(data.join("server.log"))
            .args(["-w", "-t", "60", "start"]))?;
        Ok(Postgres {
            bin,
            data,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
