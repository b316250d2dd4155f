//! Docs that cannot drift: every path `ARCHITECTURE.md` names exists, and every type (and
//! `Type::member`) it names is defined in the workspace's Rust, Java or proto sources. Run by
//! `cargo test` (and so by `cargo xtask test`).

use std::fs;
use std::path::{Path, PathBuf};

/// Names the code map uses that are not ours: tonic's, arc-swap's, sqlx's and Rust's.
const EXTERNAL: &[&str] = &["Status", "ArcSwap", "Any", "None"];

const TOP_LEVEL: &[&str] = &[
    "crates", "xtask", "plugins", "proto", "deploy", "docs", "tests", "examples",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Every backticked span of the document.
fn spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn sources(directory: &Path, out: &mut String) {
    let Ok(entries) = fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|extension| {
            ["rs", "java", "proto"].contains(&&*extension.to_string_lossy())
        }) {
            out.push_str(&fs::read_to_string(&path).unwrap_or_default());
            out.push('\n');
        }
    }
}

fn is_type_name(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|first| first.is_ascii_uppercase())
        && text.len() > 1
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric())
}

fn defines_type(code: &str, name: &str) -> bool {
    [
        "struct",
        "enum",
        "trait",
        "type",
        "class",
        "record",
        "interface",
        "message",
        "rpc",
    ]
    .iter()
    .any(|keyword| {
        let declaration = format!("{keyword} {name}");
        code.match_indices(&declaration).any(|(at, _)| {
            code[at + declaration.len()..]
                .chars()
                .next()
                .is_none_or(|next| !next.is_ascii_alphanumeric() && next != '_')
        })
    })
}

fn defines_member(code: &str, member: &str) -> bool {
    code.contains(&format!("fn {member}("))
        || code.contains(&format!("fn {member}<"))
        || code.contains(&format!("pub {member}:"))
}

/// What the document names that does not exist.
fn missing(document: &str, root: &Path, code: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for span in spans(document) {
        let span = span.trim();
        if TOP_LEVEL
            .iter()
            .any(|top| span.starts_with(&format!("{top}/")))
        {
            let path = span.trim_end_matches('/');
            let exists = match path.rsplit_once("/*") {
                // `proto/veil/v1/*.proto`: the directory exists and holds such a file.
                Some((directory, suffix)) => fs::read_dir(root.join(directory))
                    .map(|entries| {
                        entries
                            .flatten()
                            .any(|entry| entry.file_name().to_string_lossy().ends_with(suffix))
                    })
                    .unwrap_or(false),
                None => root.join(path).exists(),
            };
            if !exists {
                missing.push(format!("path `{span}`"));
            }
            continue;
        }
        let span = span.strip_prefix("v1::").unwrap_or(span);
        let (type_name, member) = match span.split_once("::") {
            Some((type_name, member)) => (type_name, Some(member)),
            None => (span, None),
        };
        if !is_type_name(type_name) || EXTERNAL.contains(&type_name) {
            continue;
        }
        if member
            .is_some_and(|member| member.contains(|c: char| !c.is_ascii_alphanumeric() && c != '_'))
        {
            continue;
        }
        if !defines_type(code, type_name) {
            missing.push(format!("type `{type_name}`"));
        } else if let Some(member) = member
            && !defines_member(code, member)
        {
            missing.push(format!("`{type_name}::{member}`"));
        }
    }
    missing
}

#[test]
fn architecture_names_only_what_exists() {
    let root = root();
    let document = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut code = String::new();
    for top in ["crates", "xtask", "plugins", "proto"] {
        sources(&root.join(top), &mut code);
    }
    let missing = missing(&document, &root, &code);
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names what does not exist: {}",
        missing.join(", ")
    );
}

#[test]
fn the_check_can_fail() {
    let root = root();
    let code = "pub struct Estate {\n    pub fn decide(&self) {}\n}\n";
    let document = "`crates/policy` `crates/nowhere.rs` `Estate` `Estate::decide` `Estate::vanished` `Ghost` `Status`";
    assert_eq!(
        missing(document, &root, code),
        [
            "path `crates/nowhere.rs`",
            "`Estate::vanished`",
            "type `Ghost`"
        ]
    );
}
