//! `cargo xtask demo`: Veil on the example estate, to try by hand. The e2e's `Stack` serves
//! `examples/tpch.yaml` from a PDP whose SQLite store is under `target/demo`, and starts one Trino
//! with the plugin, both ways in (native enforcement's install also has the governed catalog
//! `veil`); the demo fetches the Trino CLI, prints how to query as each example user, and stays up
//! until Ctrl-C, when the supervisor stops everything it started.

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use anyhow::{Result, ensure};

use super::install::{self, Enforcement, TRINO_VERSION};
use super::{ADMIN_TOKEN, Stack};

/// The estate the demo serves, relative to the workspace root.
pub(super) const ESTATE: &str = "examples/tpch.yaml";

/// The demo's users, with what the example estate makes of them: the same query, three results.
pub(super) const USERS: [(&str, &str); 3] = [
    (
        "alice",
        "an analyst in regions 1 and 2: her nations' customers, PII hashed, balances rounded",
    ),
    (
        "bob",
        "an analyst in support, region 3: his nation's customers, masked the same way",
    ),
    (
        "dave",
        "an intern, subscribed to nothing: the table does not exist for him",
    ),
];

/// The project of the example estate, and its one member among the demo's users.
pub(super) const PROJECT: (&str, &str) = ("fraud-2026", "alice");

/// A governed data source of the example estate and its backing table.
pub(super) const GOVERNED: &str = "sales.customers";
pub(super) const BACKING: &str = "tpch.tiny.customer";

const COLUMNS: &str = "custkey, name, nationkey, phone, acctbal";

/// The demo's query on `table` (fully qualified), the same through either way in.
pub(super) fn query(table: &str) -> String {
    format!("SELECT {COLUMNS} FROM {table} ORDER BY custkey LIMIT 5")
}

/// `cargo xtask demo`: starts everything, prints the commands, and waits for Ctrl-C.
pub fn run(args: &[String]) -> Result<()> {
    ensure!(
        args.is_empty(),
        "usage: cargo xtask demo (it takes no arguments)"
    );
    let root = install::workspace_root();
    // First, so that a failed download fails before the builds.
    let java_home = install::java_home()?;
    let cli = install::ensure_trino_cli(&install::cache_dir()?, &java_home)?;
    let mut stack = Stack::start(&root, &[Enforcement::Native], &root.join(ESTATE), "demo")?;
    let store = stack.pdp.store.clone();
    let instructions = Instructions {
        cli: Cli {
            java: java_home.join("bin/java"),
            jar: cli,
            server: stack.trinos[0].base.clone(),
        },
        pdp: stack.pdp.url(),
        store,
        run_dir: stack.run_dir.clone(),
        veil: stack.pdp.binary.clone(),
        tls: [
            stack.pdp.tls.authority.clone(),
            stack.pdp.tls.client_certificate.clone(),
            stack.pdp.tls.client_key.clone(),
        ],
        root,
    };
    print!("{}", instructions.render());
    // Up until Ctrl-C (the supervisor's handler stops every process), or until one of them exits.
    loop {
        stack.ensure_running()?;
        thread::sleep(Duration::from_secs(1));
    }
}

/// How to run the Trino CLI against the demo's Trino.
pub(super) struct Cli {
    pub(super) java: PathBuf,
    pub(super) jar: PathBuf,
    /// `http://127.0.0.1:PORT`: the CLI talks plain HTTP to Trino (TLS is between Trino and the PDP).
    pub(super) server: String,
}

impl Cli {
    /// The command line that runs `sql` as `user`, with extra CLI options (`--session ...`).
    pub(super) fn execute(&self, user: &str, options: &str, sql: &str) -> String {
        let options = if options.is_empty() {
            String::new()
        } else {
            format!(" {options}")
        };
        // `--execute` prints CSV unless told otherwise; a table reads better.
        format!(
            "{} --output-format ALIGNED --user {user}{options} --execute \"{sql}\"",
            self.interactive()
        )
    }

    fn interactive(&self) -> String {
        format!(
            // The CLI's line reader loads a native library, which JDK 24+ warns about unless allowed.
            "{} --enable-native-access=ALL-UNNAMED -jar {} --server {}",
            self.java.display(),
            self.jar.display(),
            self.server
        )
    }
}

/// What the demo prints once everything is up.
pub(super) struct Instructions {
    pub(super) cli: Cli,
    pub(super) pdp: String,
    pub(super) store: String,
    pub(super) run_dir: PathBuf,
    pub(super) veil: PathBuf,
    /// The PDP's CA, and the client certificate and key the PDP's mutual TLS asks of `veil`.
    pub(super) tls: [PathBuf; 3],
    pub(super) root: PathBuf,
}

impl Instructions {
    pub(super) fn render(&self) -> String {
        let cli = &self.cli;
        let governed = query(&format!("veil.{GOVERNED}"));
        let native = query(BACKING);
        let (project, member) = PROJECT;
        let mut text = String::from("\nVeil is up.\n");
        text.push_str(&format!(
            "- the PDP serves {ESTATE} on {} (TLS and tokens; store {})\n",
            self.pdp, self.store
        ));
        text.push_str(&format!(
            "- Trino {TRINO_VERSION} with the plugin on {}: the governed catalog `veil`, and native \
             enforcement on `tpch`\n",
            cli.server
        ));
        text.push_str(&format!("- logs in {}\n\n", self.run_dir.display()));
        text.push_str("The same query as three users, through the governed catalog:\n\n");
        for (user, about) in USERS {
            text.push_str(&format!(
                "  # {user}: {about}\n  {}\n\n",
                cli.execute(user, "", &governed)
            ));
        }
        text.push_str(
            "Natively, on the backing table itself (the same rows as through the view):\n\n",
        );
        text.push_str(&format!("  {}\n\n", cli.execute(USERS[0].0, "", &native)));
        text.push_str(&format!(
            "Under the project {project} (its purpose lifts the PII masks and the region filter), \
             both ways in:\n\n"
        ));
        for (options, sql) in [
            (format!("--session veil.project={project}"), &governed),
            (
                format!("--extra-credential veil.project={project}"),
                &native,
            ),
        ] {
            text.push_str(&format!("  {}\n", cli.execute(member, &options, sql)));
        }
        text.push_str(&format!(
            "\nInteractively: {} --user bob\n\n",
            cli.interactive()
        ));
        text.push_str("Why each column and row filter looks the way it does, from the file or from the running PDP:\n\n");
        text.push_str(&format!(
            "  {} explain --config {} --user alice {GOVERNED}\n",
            self.veil.display(),
            self.root.join(ESTATE).display()
        ));
        // The CLI against the running PDP, as its admin, over mutual TLS.
        let admin = format!(
            "  VEIL_TOKEN={ADMIN_TOKEN} VEIL_TLS_CA={} VEIL_TLS_CLIENT_CERT={} VEIL_TLS_CLIENT_KEY={} \\\n    {}",
            self.tls[0].display(),
            self.tls[1].display(),
            self.tls[2].display(),
            self.veil.display(),
        );
        text.push_str(&format!(
            "{admin} explain --server {} --user alice {GOVERNED}\n\n",
            self.pdp
        ));
        text.push_str("Every query above, as the query audit recorded it (tables, filters, masks, decisions):\n\n");
        text.push_str(&format!("{admin} audit queries --server {}\n\n", self.pdp));
        text.push_str("Ctrl-C stops everything.\n");
        text
    }
}

/// The path of the example estate, for the tests.
#[cfg(test)]
fn estate_path() -> PathBuf {
    install::workspace_root().join(ESTATE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn estate() -> Value {
        let text = std::fs::read_to_string(estate_path()).expect("the example estate");
        serde_norway::from_str(&text).expect("the example estate parses")
    }

    fn names<'a>(estate: &'a Value, kind: &str) -> Vec<&'a str> {
        estate[kind]
            .as_array()
            .unwrap_or_else(|| panic!("the example estate has no {kind}"))
            .iter()
            .filter_map(|entity| entity["name"].as_str())
            .collect()
    }

    #[test]
    fn the_demo_names_what_the_example_estate_has() {
        let estate = estate();
        let users = names(&estate, "users");
        for (user, _) in USERS {
            assert!(users.contains(&user), "{user} is not a user of {ESTATE}");
        }
        let (project, member) = PROJECT;
        let project = estate["projects"]
            .as_array()
            .expect("projects")
            .iter()
            .find(|entity| entity["name"] == project)
            .unwrap_or_else(|| panic!("{project} is not a project of {ESTATE}"));
        assert!(
            project["members"]
                .as_array()
                .is_some_and(|members| members.iter().any(|name| name == member)),
            "{member} is not a member of {project:?}"
        );
        let data_source = estate["data_sources"]
            .as_array()
            .expect("data sources")
            .iter()
            .find(|entity| entity["name"] == GOVERNED)
            .unwrap_or_else(|| panic!("{GOVERNED} is not a data source of {ESTATE}"));
        assert_eq!(data_source["table"], BACKING);
        let columns: Vec<&str> = data_source["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|column| column["name"].as_str())
            .collect();
        for column in COLUMNS.split(", ") {
            assert!(columns.contains(&column), "{GOVERNED} has no {column}");
        }
    }

    #[test]
    fn the_printed_commands_run_the_cli_against_the_demos_trino() {
        let instructions = Instructions {
            cli: Cli {
                java: "/jdk/bin/java".into(),
                jar: "/cache/trino-cli-476-executable.jar".into(),
                server: "http://127.0.0.1:8123".to_owned(),
            },
            pdp: "https://127.0.0.1:50123".to_owned(),
            store: "sqlite:///target/demo/veil.db".to_owned(),
            run_dir: "/target/demo".into(),
            veil: "/target/debug/veil".into(),
            tls: [
                "/tls/ca.pem".into(),
                "/tls/plugin.pem".into(),
                "/tls/plugin.key".into(),
            ],
            root: "/src".into(),
        };
        let text = instructions.render();
        let cli = "/jdk/bin/java --enable-native-access=ALL-UNNAMED -jar /cache/trino-cli-476-executable.jar --server http://127.0.0.1:8123 --output-format ALIGNED";
        for (user, _) in USERS {
            let line = format!(
                "{cli} --user {user} --execute \"SELECT custkey, name, nationkey, phone, acctbal FROM veil.sales.customers ORDER BY custkey LIMIT 5\""
            );
            assert!(text.contains(&line), "no `{line}` in:\n{text}");
        }
        for line in [
            format!(
                "{cli} --user alice --execute \"SELECT custkey, name, nationkey, phone, acctbal FROM tpch.tiny.customer ORDER BY custkey LIMIT 5\""
            ),
            format!(
                "{cli} --user alice --session veil.project=fraud-2026 --execute \"SELECT custkey, name, nationkey, phone, acctbal FROM veil.sales.customers ORDER BY custkey LIMIT 5\""
            ),
            format!(
                "{cli} --user alice --extra-credential veil.project=fraud-2026 --execute \"SELECT custkey, name, nationkey, phone, acctbal FROM tpch.tiny.customer ORDER BY custkey LIMIT 5\""
            ),
            "/target/debug/veil explain --config /src/examples/tpch.yaml --user alice sales.customers"
                .to_owned(),
            "on https://127.0.0.1:50123".to_owned(),
            "VEIL_TLS_CA=/tls/ca.pem VEIL_TLS_CLIENT_CERT=/tls/plugin.pem VEIL_TLS_CLIENT_KEY=/tls/plugin.key".to_owned(),
            "/target/debug/veil explain --server https://127.0.0.1:50123 --user alice sales.customers".to_owned(),
            "store sqlite:///target/demo/veil.db".to_owned(),
        ] {
            assert!(text.contains(&line), "no `{line}` in:\n{text}");
        }
        // The commands are pasted into a shell: the SQL must not close its double quotes.
        assert!(!query("t").contains('"'));
    }
}
