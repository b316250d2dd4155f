//! The Helm chart, `deploy/helm/veil`: helm installed once with `go install`, then `helm lint`
//! and `helm template` of the chart's shapes, each rendering parsed and checked for what the
//! chart promises (replicas, probes, ports, Secrets referenced and never inlined), and values
//! the chart must refuse refused.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use serde::Deserialize;
use serde_norway::Value;

/// The helm release the checks are pinned to.
const HELM_VERSION: &str = "v3.22.0";
const CHART: &str = "deploy/helm/veil";
/// Three replicas, every secret from an existing Secret, mutual TLS, a policy file, no metrics.
const SECOND_VALUES: &str = "deploy/helm/veil/ci/existing-secrets-values.yaml";
const RELEASE: &str = "veil";
/// Without a cluster helm assumes Kubernetes 1.20; the chart needs 1.24 (gRPC probes).
const KUBE_VERSION: &str = "1.30.0";
const NAMESPACE: &str = "governance";
/// A SHA-256 digest, as the auth file keeps tokens.
const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// Lints and renders the chart and checks every rendering.
pub fn check() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask is inside the workspace")?
        .to_path_buf();
    let helm = Helm {
        binary: install()?,
        root,
    };
    helm.lint(&[])?;
    helm.lint(&["--values", SECOND_VALUES])?;

    let defaults = helm.template(&[])?;
    finish("default values", defaults.check_defaults())?;
    let with_digest = format!(
        "auth.tokens[0].name=ops,auth.tokens[0].role=admin,auth.tokens[0].token_sha256={DIGEST}"
    );
    let digests = helm.template(&["--set", &with_digest])?;
    finish("tokens as digests", digests.check_digests())?;
    let second = helm.template(&["--values", SECOND_VALUES])?;
    finish(SECOND_VALUES, second.check_existing_secrets())?;

    helm.refuses(
        &[
            "--set",
            "auth.tokens[0].name=ops,auth.tokens[0].role=admin,auth.tokens[0].token=hunter2",
        ],
        "give `token_sha256`, not `token`",
    )?;
    helm.refuses(
        &["--set", "tls.enabled=true"],
        "tls.enabled needs tls.existingSecret",
    )?;
    helm.refuses(
        &["--set", "store.existingSecret="],
        "store.existingSecret is required",
    )?;
    println!("helm: {CHART} lints, renders and refuses as it should");
    Ok(())
}

/// `<cache>/go-bin/helm`, installed with `go install` when it is absent or another version.
fn install() -> Result<PathBuf> {
    let binary = crate::tools::cache_dir()?.join("go-bin/helm");
    if !(binary.exists() && built_from_release(&binary)?) {
        crate::tools::go_install(&format!("helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"), &binary)?;
    }
    Ok(binary)
}

/// Whether `go version -m` says the binary was built from helm's `HELM_VERSION` module (a
/// `go install`ed helm reports only its minor version itself).
fn built_from_release(binary: &Path) -> Result<bool> {
    let output = Command::new("go")
        .args(["version", "-m"])
        .arg(binary)
        .output()
        .context("running `go version -m` (is Go installed?)")?;
    Ok(String::from_utf8_lossy(&output.stdout).lines().any(|line| {
        line.split_whitespace()
            .take(3)
            .eq(["mod", "helm.sh/helm/v3", HELM_VERSION])
    }))
}

struct Helm {
    binary: PathBuf,
    root: PathBuf,
}

impl Helm {
    fn run(&self, args: &[&str]) -> Result<Output> {
        Command::new(&self.binary)
            .args(args)
            .current_dir(&self.root)
            .output()
            .with_context(|| format!("running helm {}", args.join(" ")))
    }

    fn lint(&self, values: &[&str]) -> Result<()> {
        let mut args = vec!["lint", "--strict", CHART];
        args.extend_from_slice(values);
        let output = self.run(&args)?;
        print!("{}", String::from_utf8_lossy(&output.stdout));
        ensure!(
            output.status.success(),
            "helm {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(())
    }

    fn template_output(&self, values: &[&str]) -> Result<Output> {
        let mut args = vec![
            "template",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--kube-version",
            KUBE_VERSION,
        ];
        args.extend_from_slice(values);
        self.run(&args)
    }

    fn template(&self, values: &[&str]) -> Result<Manifests> {
        let output = self.template_output(values)?;
        ensure!(
            output.status.success(),
            "helm template {} failed: {}",
            values.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Manifests::parse(&String::from_utf8(output.stdout)?)
    }

    /// Rendering with these values must fail, saying why.
    fn refuses(&self, values: &[&str], reason: &str) -> Result<()> {
        let output = self.template_output(values)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        ensure!(
            !output.status.success(),
            "helm template {} rendered; the chart must refuse it ({reason})",
            values.join(" ")
        );
        ensure!(
            stderr.contains(reason),
            "helm template {} failed, but not saying `{reason}`: {}",
            values.join(" "),
            stderr.trim()
        );
        Ok(())
    }
}

fn finish(shape: &str, problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        println!("helm template ({shape}): ok");
        return Ok(());
    }
    bail!(
        "helm template ({shape}) renders a chart that breaks its promises:\n  {}",
        problems.join("\n  ")
    )
}

/// What a check found wrong, collected so one run lists every problem.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn expect(&mut self, holds: bool, what: impl Display) {
        if !holds {
            self.0.push(what.to_string());
        }
    }
}

/// The documents of one `helm template`.
struct Manifests(Vec<Value>);

impl Manifests {
    fn parse(text: &str) -> Result<Manifests> {
        let mut documents = Vec::new();
        for document in serde_norway::Deserializer::from_str(text) {
            let value = Value::deserialize(document).context("parsing helm template's output")?;
            if !value.is_null() {
                documents.push(value);
            }
        }
        Ok(Manifests(documents))
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.0
            .iter()
            .filter(move |document| document["kind"].as_str() == Some(kind))
    }

    fn deployment(&self) -> &Value {
        self.of_kind("Deployment").next().unwrap_or(&Value::Null)
    }

    fn container(&self) -> &Value {
        &self.deployment()["spec"]["template"]["spec"]["containers"][0]
    }

    fn test_pod(&self) -> &Value {
        self.of_kind("Pod")
            .find(|pod| pod["metadata"]["annotations"]["helm.sh/hook"].as_str() == Some("test"))
            .unwrap_or(&Value::Null)
    }

    /// Checks every rendering shares: the shape of the Deployment and what it must never hold.
    fn check_common(&self, problems: &mut Problems) {
        problems.expect(
            self.of_kind("Deployment").count() == 1,
            "exactly one Deployment",
        );
        let container = self.container();
        problems.expect(
            args(container).first().map(String::as_str) == Some("serve"),
            "the container runs `veil serve`",
        );
        problems.expect(
            args(container).contains(&"--listen=0.0.0.0:50051".to_owned()),
            "`--listen=0.0.0.0:50051` (the default 127.0.0.1 is unreachable from the Service)",
        );
        problems.expect(
            port(container, "grpc") == Some(50051),
            "container port `grpc` 50051",
        );
        problems.expect(
            self.of_kind("Service")
                .any(|service| service_port(service, "grpc") == Some(50051)),
            "a Service with port `grpc` 50051",
        );
        let pod = &self.deployment()["spec"]["template"]["spec"];
        problems.expect(
            pod["securityContext"]["runAsNonRoot"].as_bool() == Some(true),
            "the pod runs as non-root",
        );
        problems.expect(
            container["securityContext"]["readOnlyRootFilesystem"].as_bool() == Some(true),
            "a read-only root filesystem",
        );
        problems.expect(
            container["securityContext"]["allowPrivilegeEscalation"].as_bool() == Some(false),
            "no privilege escalation",
        );
        for limit in ["requests", "limits"] {
            problems.expect(
                container["resources"][limit]["memory"].as_str().is_some(),
                format!("a memory {limit} figure"),
            );
        }
        problems.expect(
            self.of_kind("PodDisruptionBudget").count() == 1,
            "a PodDisruptionBudget",
        );
        let store = env(container, "VEIL_STORE");
        problems.expect(
            store["valueFrom"]["secretKeyRef"]["name"]
                .as_str()
                .is_some()
                && store["value"].is_null(),
            "VEIL_STORE comes from a Secret, never a value",
        );
        let test = self.test_pod();
        let image = test["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or("");
        problems.expect(
            image.starts_with("ghcr.io/grpc-ecosystem/grpc-health-probe:v"),
            format!("a helm test pod running grpc-health-probe pinned by tag, not `{image}`"),
        );
        problems.expect(
            args(&test["spec"]["containers"][0])
                .contains(&format!("-addr={RELEASE}.{NAMESPACE}.svc:50051")),
            "the test asks the Service's health",
        );
        for (index, text) in self.0.iter().flat_map(strings).enumerate() {
            for secret in ["postgres://", "postgresql://", "PRIVATE KEY"] {
                problems.expect(
                    !text.contains(secret),
                    format!("string {index} of the rendering holds `{secret}`: {text}"),
                );
            }
        }
    }

    fn check_defaults(&self) -> Vec<String> {
        let mut problems = Problems::default();
        self.check_common(&mut problems);
        let deployment = self.deployment();
        problems.expect(
            deployment["spec"]["replicas"].as_u64() == Some(2),
            "2 replicas by default",
        );
        let container = self.container();
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            problems.expect(
                container[probe]["grpc"]["port"].as_u64() == Some(50051),
                format!("a native gRPC {probe} on 50051"),
            );
        }
        problems.expect(
            args(container).contains(&"--metrics-listen=0.0.0.0:9464".to_owned())
                && port(container, "metrics") == Some(9464),
            "metrics on 9464 by default (`--metrics-listen` and the container port)",
        );
        problems.expect(
            self.of_kind("Service")
                .any(|service| service_port(service, "metrics") == Some(9464)),
            "the Service exposes metrics on 9464",
        );
        let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
        problems.expect(
            annotations["prometheus.io/scrape"].as_str() == Some("true")
                && annotations["prometheus.io/port"].as_str() == Some("9464"),
            "prometheus.io/scrape and port annotations on the pods",
        );
        problems.expect(
            self.of_kind("ServiceMonitor").count() == 0,
            "no ServiceMonitor unless asked for",
        );
        problems.expect(
            args(container).contains(&"--auth=/etc/veil/auth/auth.yaml".to_owned()),
            "authentication on by default",
        );
        let store = &env(container, "VEIL_STORE")["valueFrom"]["secretKeyRef"];
        problems.expect(
            store["name"].as_str() == Some("veil-store") && store["key"].as_str() == Some("url"),
            "VEIL_STORE from Secret `veil-store`, key `url`",
        );
        problems.expect(
            self.of_kind("ConfigMap").count() == 0
                && !args(container)
                    .iter()
                    .any(|arg| arg.starts_with("--config")),
            "no policy file unless given",
        );
        problems.0
    }

    /// With tokens given as digests, the chart's Secret holds an auth file of digests only.
    fn check_digests(&self) -> Vec<String> {
        let mut problems = Problems::default();
        self.check_common(&mut problems);
        let secret = self
            .of_kind("Secret")
            .find(|secret| secret["metadata"]["name"].as_str() == Some("veil-auth"));
        let Some(secret) = secret else {
            return vec!["a Secret `veil-auth` holding the auth file".to_owned()];
        };
        let file = secret["data"]["auth.yaml"]
            .as_str()
            .and_then(|encoded| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
            })
            .and_then(|bytes| serde_norway::from_slice::<Value>(&bytes).ok())
            .unwrap_or(Value::Null);
        let tokens = file["tokens"].as_sequence().cloned().unwrap_or_default();
        problems.expect(tokens.len() == 1, "the auth file has the one token given");
        for token in &tokens {
            problems.expect(
                token["token_sha256"].as_str() == Some(DIGEST) && token["token"].is_null(),
                format!("a token kept as its digest only: {token:?}"),
            );
        }
        problems.expect(
            self.deployment()["spec"]["template"]["metadata"]["annotations"]["checksum/auth"]
                .as_str()
                .is_some(),
            "pods roll when the tokens change (checksum/auth)",
        );
        problems.0
    }

    fn check_existing_secrets(&self) -> Vec<String> {
        let mut problems = Problems::default();
        self.check_common(&mut problems);
        let deployment = self.deployment();
        problems.expect(
            deployment["spec"]["replicas"].as_u64() == Some(3),
            "3 replicas as asked",
        );
        problems.expect(
            self.of_kind("Secret").count() == 0,
            "no Secret rendered: every one is the operator's",
        );
        let container = self.container();
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            problems.expect(
                container[probe]["tcpSocket"]["port"].as_str() == Some("grpc")
                    && container[probe]["grpc"].is_null(),
                format!("with TLS a TCP {probe} (Kubernetes' gRPC probes speak plaintext only)"),
            );
        }
        let arguments = args(container);
        for expected in [
            "--tls-cert=/etc/veil/tls/tls.crt",
            "--tls-key=/etc/veil/tls/tls.key",
            "--tls-client-ca=/etc/veil/client-ca/ca.crt",
            "--config=/etc/veil/policy/policies.yaml",
            "--view-owner=veil_admin",
            "--trust-trino-groups",
            "--webhook=https://hooks.example.com/veil",
        ] {
            problems.expect(
                arguments.contains(&expected.to_owned()),
                format!("argument `{expected}`"),
            );
        }
        problems.expect(
            !arguments
                .iter()
                .any(|arg| arg.starts_with("--metrics-listen"))
                && port(container, "metrics").is_none()
                && !self
                    .of_kind("Service")
                    .any(|service| service_port(service, "metrics").is_some()),
            "no metrics port with metrics.enabled=false",
        );
        problems.expect(
            deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"]
                .is_null(),
            "no scrape annotation with metrics.enabled=false",
        );
        let volumes = &deployment["spec"]["template"]["spec"]["volumes"];
        for (volume, secret) in [
            ("auth", "pdp-tokens"),
            ("tls", "pdp-tls"),
            ("client-ca", "trino-client-ca"),
        ] {
            problems.expect(
                named(volumes, volume)["secret"]["secretName"].as_str() == Some(secret),
                format!("volume `{volume}` from Secret `{secret}`"),
            );
        }
        for (variable, secret) in [
            ("VEIL_STORE", "pdp-postgres"),
            ("VEIL_WEBHOOK_SECRET", "pdp-webhook"),
        ] {
            let from = &env(container, variable);
            problems.expect(
                from["valueFrom"]["secretKeyRef"]["name"].as_str() == Some(secret)
                    && from["value"].is_null(),
                format!("{variable} from Secret `{secret}`"),
            );
        }
        let config_map = self.of_kind("ConfigMap").next().unwrap_or(&Value::Null);
        problems.expect(
            config_map["data"]["policies.yaml"]
                .as_str()
                .is_some_and(|file| file.contains("nations-for-everyone")),
            "the policy file in a ConfigMap",
        );
        problems.expect(
            deployment["spec"]["template"]["metadata"]["annotations"]["checksum/policy"]
                .as_str()
                .is_some(),
            "pods roll when the policy file changes (checksum/policy)",
        );
        let test = self.test_pod();
        let test_args = args(&test["spec"]["containers"][0]);
        problems.expect(
            test_args.contains(&"-tls".to_owned())
                && test_args.contains(&"-tls-client-cert=/etc/veil/client/tls.crt".to_owned()),
            "the test speaks mutual TLS",
        );
        let items = &named(&test["spec"]["volumes"], "tls")["secret"]["items"];
        problems.expect(
            items.as_sequence().is_some_and(|items| {
                items.len() == 1 && items[0]["key"].as_str() == Some("ca.crt")
            }),
            "the test pod mounts only the CA of the TLS Secret, never the key",
        );
        problems.0
    }
}

fn args(container: &Value) -> Vec<String> {
    container["args"]
        .as_sequence()
        .map(|args| {
            args.iter()
                .filter_map(|arg| arg.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The entry of a sequence (ports, volumes, env) with this `name`, or null.
fn named<'a>(sequence: &'a Value, name: &str) -> &'a Value {
    sequence
        .as_sequence()
        .and_then(|entries| {
            entries
                .iter()
                .find(|entry| entry["name"].as_str() == Some(name))
        })
        .unwrap_or(&Value::Null)
}

fn port(container: &Value, name: &str) -> Option<u64> {
    named(&container["ports"], name)["containerPort"].as_u64()
}

fn service_port(service: &Value, name: &str) -> Option<u64> {
    named(&service["spec"]["ports"], name)["port"].as_u64()
}

fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    named(&container["env"], name)
}

/// Every string in a document, keys included; Secret data decoded.
fn strings(document: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(document, &mut out);
    if document["kind"].as_str() == Some("Secret")
        && let Some(data) = document["data"].as_mapping()
    {
        for encoded in data.values().filter_map(Value::as_str) {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) {
                out.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    out
}

fn collect(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Sequence(items) => items.iter().for_each(|item| collect(item, out)),
        Value::Mapping(mapping) => {
            for (key, value) in mapping {
                collect(key, out);
                collect(value, out);
            }
        }
        Value::Tagged(tagged) => collect(&tagged.value, out),
        _ => {}
    }
}
