//! What a run is built from and where it lives: the Trino distribution (and, for the demo, the
//! Trino CLI) fetched once into the cache, the plugin and server builds, and the Trino install
//! laid out under `target/e2e` (or `target/demo`) from `deploy/trino/`.

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail, ensure};

use super::PLUGIN_TOKEN;
use super::pdp::Tls;
use super::processes::tail;
use super::report::step;
use super::trust;

pub(super) const TRINO_VERSION: &str = "476";
/// Trino 476 needs Java 24 or newer; this is where CI images keep Temurin 25.
const DEFAULT_JAVA_HOME: &str = "/usr/lib/jvm/temurin-25-jdk-amd64";

pub(super) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub(super) fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

pub(super) use crate::tools::cache_dir;

/// `VEIL_JAVA_HOME`, else Temurin 25 where CI keeps it, else `JAVA_HOME`.
pub(super) fn java_home() -> Result<PathBuf> {
    let candidates = [
        env::var_os("VEIL_JAVA_HOME").map(PathBuf::from),
        Some(PathBuf::from(DEFAULT_JAVA_HOME)),
        env::var_os("JAVA_HOME").map(PathBuf::from),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|home| home.join("bin/java").exists())
        .ok_or_else(|| {
            anyhow!(
                "no JDK found: set VEIL_JAVA_HOME to a JDK 24+ (Trino {TRINO_VERSION} needs it)"
            )
        })
}

/// The Trino server and the tpch and memory plugins, fetched from Maven Central once.
pub(super) struct TrinoDistribution {
    /// The unpacked `trino-server-core` (its `lib/` is the classpath).
    server: PathBuf,
    /// Unpacked plugin directories by name.
    plugins: Vec<(&'static str, PathBuf)>,
}

pub(super) fn ensure_trino(cache: &Path, java_home: &Path) -> Result<TrinoDistribution> {
    let home = cache.join(format!("trino-{TRINO_VERSION}"));
    let distribution = TrinoDistribution {
        server: home.join(format!("trino-server-core-{TRINO_VERSION}")),
        plugins: vec![
            ("tpch", home.join("plugin/tpch")),
            ("memory", home.join("plugin/memory")),
        ],
    };
    if home.join(".complete").exists() {
        return Ok(distribution);
    }
    step(&format!(
        "fetching Trino {TRINO_VERSION} from Maven Central into {}",
        home.display()
    ));
    let staging = cache.join(format!("trino-{TRINO_VERSION}.partial"));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    let downloads = staging.join("downloads");
    fs::create_dir_all(staging.join("plugin"))?;
    for artifact in [
        format!("io.trino:trino-server-core:{TRINO_VERSION}:tar.gz"),
        format!("io.trino:trino-tpch:{TRINO_VERSION}:zip"),
        format!("io.trino:trino-memory:{TRINO_VERSION}:zip"),
    ] {
        run_quietly(
            Command::new("mvn")
                .args(["-B", "-q", "dependency:copy"])
                .arg(format!("-Dartifact={artifact}"))
                .arg(format!("-DoutputDirectory={}", downloads.display()))
                .env("JAVA_HOME", java_home)
                .current_dir(&staging),
        )
        .with_context(|| format!("downloading {artifact}"))?;
    }
    run_quietly(
        Command::new("tar")
            .arg("xzf")
            .arg(downloads.join(format!("trino-server-core-{TRINO_VERSION}.tar.gz")))
            .current_dir(&staging),
    )?;
    for (name, _) in &distribution.plugins {
        let zip = downloads.join(format!("trino-{name}-{TRINO_VERSION}.zip"));
        unzip(java_home, &zip, &staging.join("plugin"))?;
        fs::rename(
            staging.join(format!("plugin/trino-{name}-{TRINO_VERSION}")),
            staging.join("plugin").join(name),
        )?;
    }
    fs::remove_dir_all(&downloads)?;
    fs::write(staging.join(".complete"), "")?;
    if home.exists() {
        fs::remove_dir_all(&home)?;
    }
    fs::rename(&staging, &home)?;
    Ok(distribution)
}

/// The Trino CLI's executable jar (`io.trino:trino-cli`, classifier `executable`), fetched from
/// Maven Central once, like the server: the demo's users query with it.
pub(super) fn ensure_trino_cli(cache: &Path, java_home: &Path) -> Result<PathBuf> {
    let name = format!("trino-cli-{TRINO_VERSION}-executable.jar");
    let jar = cache.join(&name);
    if jar.exists() {
        return Ok(jar);
    }
    step(&format!(
        "fetching the Trino {TRINO_VERSION} CLI from Maven Central into {}",
        jar.display()
    ));
    let staging = cache.join(format!("trino-cli-{TRINO_VERSION}.partial"));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir_all(&staging)?;
    let artifact = format!("io.trino:trino-cli:{TRINO_VERSION}:jar:executable");
    run_quietly(
        Command::new("mvn")
            .args(["-B", "-q", "dependency:copy"])
            .arg(format!("-Dartifact={artifact}"))
            .arg(format!("-DoutputDirectory={}", staging.display()))
            .env("JAVA_HOME", java_home)
            .current_dir(&staging),
    )
    .with_context(|| format!("downloading {artifact}"))?;
    fs::rename(staging.join(&name), &jar)
        .with_context(|| format!("{artifact} did not arrive as {name}"))?;
    fs::remove_dir_all(&staging)?;
    Ok(jar)
}

/// Unpacks a zip with the JDK's `jar` tool, which every machine running the e2e has.
fn unzip(java_home: &Path, zip: &Path, into: &Path) -> Result<()> {
    fs::create_dir_all(into)?;
    run_quietly(
        Command::new(java_home.join("bin/jar"))
            .arg("xf")
            .arg(zip)
            .current_dir(into),
    )
}

/// Builds and unit-tests the plugin; returns its plugin zip.
pub(super) fn build_plugin(root: &Path, java_home: &Path) -> Result<PathBuf> {
    step("building the Trino plugin (mvn package)");
    let project = root.join("plugins/trino");
    run_quietly(
        Command::new("mvn")
            .args(["-B", "-q", "package"])
            .env("JAVA_HOME", java_home)
            .current_dir(&project),
    )
    .context("building plugins/trino")?;
    let zips: Vec<PathBuf> = fs::read_dir(project.join("target"))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("veil-trino-") && name.ends_with(".zip"))
        })
        .collect();
    match zips.as_slice() {
        [zip] => Ok(zip.clone()),
        _ => bail!("expected one plugin zip in plugins/trino/target, found {zips:?}"),
    }
}

pub(super) fn build_server(root: &Path) -> Result<PathBuf> {
    // The whole workspace with its test targets, as `cargo test --workspace` builds it: the same
    // feature set, so after the tests this builds nothing and keeps one copy of every dependency.
    step("building the PDP (cargo build --workspace --all-targets)");
    let status = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--workspace", "--all-targets", "--locked"])
        .current_dir(root)
        .status()?;
    ensure!(
        status.success(),
        "cargo build --workspace --all-targets failed with {status}"
    );
    let binary = target_dir(root).join("debug/veil");
    ensure!(binary.exists(), "{} was not built", binary.display());
    Ok(binary)
}

/// Runs a command, showing its output only when it fails.
fn run_quietly(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "{command:?} failed with {}\n{}\n{}",
            output.status,
            tail(&stdout, 60),
            tail(&stderr, 60)
        );
    }
    Ok(())
}

/// Which way in a Trino install enforces Veil: the governed catalog alone (with Trino's
/// file-based access control keeping users out of the backing catalogs), or native enforcement
/// beside it (`deploy/trino/native/`: Veil's access control on the backing tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Enforcement {
    GovernedCatalog,
    Native,
    /// Native, with `veil.unregistered-tables=allow` (a gradual roll-out).
    NativeAllowingUnregistered,
}

impl Enforcement {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Enforcement::GovernedCatalog => "governed catalog",
            Enforcement::Native => "native enforcement",
            Enforcement::NativeAllowingUnregistered => "native, unregistered tables allowed",
        }
    }

    /// The supervisor's name for its Trino process.
    pub(super) fn process_name(self) -> &'static str {
        match self {
            Enforcement::GovernedCatalog => "trino",
            Enforcement::Native => "trino-native",
            Enforcement::NativeAllowingUnregistered => "trino-native-allow",
        }
    }
}

/// Lays out a Trino install under `run_dir` from `deploy/trino/` (and, for native enforcement,
/// `deploy/trino/native/`), rewriting only ports and paths.
pub(super) fn layout(
    root: &Path,
    run_dir: &Path,
    enforcement: Enforcement,
    built: &Built,
    ports: Ports,
    tls: &Tls,
) -> Result<()> {
    let Built {
        trino,
        plugin_zip,
        java_home,
    } = built;
    let Ports {
        trino: trino_port,
        pdp: pdp_port,
    } = ports;
    let deploy = root.join("deploy/trino");
    let native = deploy.join("native");
    let etc = run_dir.join("etc");
    fs::create_dir_all(etc.join("catalog"))?;
    fs::create_dir_all(run_dir.join("data"))?;
    let port = trino_port.to_string();
    let (config, rules) = match enforcement {
        Enforcement::GovernedCatalog => {
            (deploy.join("config.properties"), deploy.join("rules.json"))
        }
        Enforcement::Native | Enforcement::NativeAllowingUnregistered => {
            (native.join("config.properties"), native.join("rules.json"))
        }
    };
    let mut config_overrides = vec![
        ("http-server.http.port", port.clone()),
        ("discovery.uri", format!("http://127.0.0.1:{port}")),
    ];
    if enforcement != Enforcement::GovernedCatalog {
        config_overrides.push((
            "access-control.config-files",
            format!(
                "{},{}",
                etc.join("veil-access-control.properties").display(),
                etc.join("file-access-control.properties").display()
            ),
        ));
    }
    // Trino keeps a finished query and its tasks 15 minutes by default and goes over all of them
    // every second: seven minutes into a differential run (20 queries a second) that was a fifth
    // of each Trino's samples, and growing; 3% with 30 seconds, the least Trino allows, which is
    // still long enough for every test. A test setting, so not in `deploy/trino/`.
    let test_settings = [
        ("query.min-expire-age", "30s".to_owned()),
        ("task.info.max-age", "30s".to_owned()),
    ];
    render_adding(
        &config,
        &etc.join("config.properties"),
        &config_overrides,
        &test_settings,
    )?;
    render(
        &deploy.join("node.properties"),
        &etc.join("node.properties"),
        &[("node.data-dir", run_dir.join("data").display().to_string())],
    )?;
    let rules_file = (
        "security.config-file",
        etc.join("rules.json").display().to_string(),
    );
    fs::copy(&rules, etc.join("rules.json"))
        .with_context(|| format!("copying {}", rules.display()))?;
    let pdp = [
        ("veil.pdp.address", format!("127.0.0.1:{pdp_port}")),
        (
            "veil.pdp.tls.trust-certificates",
            tls.authority.display().to_string(),
        ),
        (
            "veil.pdp.tls.client-certificate",
            tls.client_certificate.display().to_string(),
        ),
        (
            "veil.pdp.tls.client-key",
            tls.client_key.display().to_string(),
        ),
    ];
    match enforcement {
        Enforcement::GovernedCatalog => render(
            &deploy.join("access-control.properties"),
            &etc.join("access-control.properties"),
            &[rules_file],
        )?,
        Enforcement::Native | Enforcement::NativeAllowingUnregistered => {
            render(
                &native.join("file-access-control.properties"),
                &etc.join("file-access-control.properties"),
                &[rules_file],
            )?;
            let mut overrides = pdp.to_vec();
            if enforcement == Enforcement::NativeAllowingUnregistered {
                overrides.push(("veil.unregistered-tables", "allow".to_owned()));
            }
            render(
                &native.join("veil-access-control.properties"),
                &etc.join("veil-access-control.properties"),
                &overrides,
            )?;
        }
    }
    render(
        &deploy.join("catalog/veil.properties"),
        &etc.join("catalog/veil.properties"),
        &pdp,
    )?;
    render(
        &deploy.join("event-listener.properties"),
        &etc.join("event-listener.properties"),
        &pdp,
    )?;
    render(
        &deploy.join("group-provider.properties"),
        &etc.join("group-provider.properties"),
        &[(
            "veil.groups.file",
            etc.join("groups.txt").display().to_string(),
        )],
    )?;
    for file in [
        "jvm.config",
        "log.properties",
        "groups.txt",
        "catalog/tpch.properties",
        "catalog/memory.properties",
    ] {
        fs::copy(deploy.join(file), etc.join(file))
            .with_context(|| format!("copying deploy/trino/{file}"))?;
    }

    let plugins = run_dir.join("plugin");
    fs::create_dir_all(&plugins)?;
    for (name, directory) in &trino.plugins {
        std::os::unix::fs::symlink(directory, plugins.join(name))?;
    }
    let unpacked = run_dir.join("veil-plugin");
    unzip(java_home, plugin_zip, &unpacked)?;
    let mut entries = fs::read_dir(&unpacked)?;
    let inner = entries.next().context("the plugin zip is empty")??.path();
    fs::rename(inner, plugins.join("veil"))?;
    Ok(())
}

/// Copies a properties file, replacing the values of the given keys. Every key must be present,
/// so the e2e run and `deploy/trino/` cannot drift apart silently.
fn render(source: &Path, target: &Path, overrides: &[(&str, String)]) -> Result<()> {
    render_adding(source, target, overrides, &[])
}

/// [`render`], then the `added` settings, each of which the source must not have.
fn render_adding(
    source: &Path,
    target: &Path,
    overrides: &[(&str, String)],
    added: &[(&str, String)],
) -> Result<()> {
    let text =
        fs::read_to_string(source).with_context(|| format!("reading {}", source.display()))?;
    let mut replaced = BTreeSet::new();
    let mut output = String::new();
    for line in text.lines() {
        let key = line.split_once('=').map(|(key, _)| key.trim());
        match overrides
            .iter()
            .find(|(name, _)| Some(*name) == key && !line.trim_start().starts_with('#'))
        {
            Some((name, value)) => {
                output.push_str(&format!("{name}={value}\n"));
                replaced.insert(*name);
            }
            None => {
                output.push_str(line);
                output.push('\n');
            }
        }
    }
    for (name, _) in overrides {
        ensure!(
            replaced.contains(name),
            "{} has no `{name}` to set",
            source.display()
        );
    }
    for (name, value) in added {
        ensure!(
            !text.lines().any(|line| line
                .split_once('=')
                .is_some_and(|(key, _)| key.trim() == *name)),
            "{} already sets `{name}`",
            source.display()
        );
        output.push_str(&format!("{name}={value}\n"));
    }
    fs::write(target, output).with_context(|| format!("writing {}", target.display()))
}

/// `java` with the options of `jvm.config` and `node.properties`, as `bin/launcher run` would do.
pub(super) fn trino_command(
    run_dir: &Path,
    trino: &TrinoDistribution,
    java_home: &Path,
) -> Result<Command> {
    let etc = run_dir.join("etc");
    let mut command = Command::new(java_home.join("bin/java"));
    for line in fs::read_to_string(etc.join("jvm.config"))?.lines() {
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            command.arg(line);
        }
    }
    for line in fs::read_to_string(etc.join("node.properties"))?.lines() {
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            command.arg(format!("-D{line}"));
        }
    }
    command
        .arg(format!(
            "-Dconfig={}",
            etc.join("config.properties").display()
        ))
        .arg(format!(
            "-Dlog.levels-file={}",
            etc.join("log.properties").display()
        ))
        .arg("-cp")
        .arg(format!("{}/lib/*", trino.server.display()))
        .arg("io.trino.server.TrinoServer")
        .current_dir(run_dir)
        .env("JAVA_HOME", java_home)
        .env("VEIL_PDP_TOKEN", PLUGIN_TOKEN)
        .env("VEIL_MASK_KEYS", trust::mask_keys());
    Ok(command)
}

pub(super) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What every Trino install of a run is made of.
pub(super) struct Built {
    pub(super) trino: TrinoDistribution,
    pub(super) plugin_zip: PathBuf,
    pub(super) java_home: PathBuf,
}

/// The loopback ports the run's servers listen on.
#[derive(Clone, Copy)]
pub(super) struct Ports {
    pub(super) trino: u16,
    pub(super) pdp: u16,
}
