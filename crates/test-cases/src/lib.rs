//! Data-driven tests for Veil's crates (test support only): every `*.yaml` in a case directory
//! is run by a test's `check`, and the text it returns is compared with the expected file beside
//! it (same name, the test's extension). `UPDATE_EXPECT=1 cargo test` re-blesses.

use std::path::{Path, PathBuf};

use veil_policy::Identity;

/// Runs `check` on every case in `<crate>/tests/it/<directory>` (`crate` is the calling crate's
/// `CARGO_MANIFEST_DIR`) and compares with `<case>.<expected>`.
pub fn check_cases(
    crate_dir: &str,
    directory: &str,
    expected: &str,
    check: impl Fn(&str, &str) -> String,
) {
    let directory = Path::new(crate_dir).join("tests/it").join(directory);
    let mut inputs: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(&directory).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|extension| extension.to_str()) {
            Some("yaml") => inputs.push(path),
            Some(extension) if extension == expected => assert!(
                path.with_extension("yaml").exists(),
                "{} has no case beside it",
                path.display()
            ),
            _ => panic!("{}: not a case or an expected file", path.display()),
        }
    }
    inputs.sort();
    assert!(!inputs.is_empty(), "no cases in {}", directory.display());
    let mut mismatches = Vec::new();
    for input in inputs {
        let expected_path = input.with_extension(expected);
        mismatches.extend(compare(&input, &expected_path, &check));
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Runs `check` on one case file anywhere in the repository (`input`, relative to `crate_dir`)
/// and compares with `expected` (relative to `<crate>/tests/it`), for a file that is not in a
/// case directory, such as an example.
pub fn check_file(
    crate_dir: &str,
    input: &str,
    expected: &str,
    check: impl Fn(&str, &str) -> String,
) {
    let input = Path::new(crate_dir).join(input);
    let expected = Path::new(crate_dir).join("tests/it").join(expected);
    if let Some(mismatch) = compare(&input, &expected, &check) {
        panic!("{mismatch}");
    }
}

/// One case against its expected file; with `UPDATE_EXPECT` set, writes the expected file.
fn compare(
    input: &Path,
    expected_path: &Path,
    check: &impl Fn(&str, &str) -> String,
) -> Option<String> {
    let name = input.file_stem().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(input).unwrap();
    let actual = check(&name, &text);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(expected_path, &actual).unwrap();
        return None;
    }
    let expected = std::fs::read_to_string(expected_path).unwrap_or_default();
    (expected != actual).then(|| {
        format!(
            "{} differs (UPDATE_EXPECT=1 re-blesses):\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        )
    })
}

/// One `# case:` line of a case file: `user=ana project=p groups=a,b trust=no table=s.t`, or
/// `schema=s` (or neither) instead of `table` for the data sources the user sees. Trino's
/// groups are trusted unless `trust=no`.
pub struct Case<'a> {
    pub line: &'a str,
    pub user: &'a str,
    pub project: Option<&'a str>,
    pub groups: Vec<String>,
    pub trust: bool,
    pub table: Option<(&'a str, &'a str)>,
    pub schema: Option<&'a str>,
}

impl Case<'_> {
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            user: self.user,
            groups: &self.groups,
            project: self.project,
        }
    }
}

/// The `# case:` lines of a case file, in order.
pub fn cases(text: &str) -> Vec<Case<'_>> {
    let cases: Vec<Case<'_>> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# case:"))
        .map(|line| {
            let mut case = Case {
                line: line.trim(),
                user: "",
                project: None,
                groups: Vec::new(),
                trust: true,
                table: None,
                schema: None,
            };
            for field in line.split_whitespace() {
                let (key, value) = field.split_once('=').expect("case fields are key=value");
                match key {
                    "user" => case.user = value,
                    "project" => case.project = Some(value),
                    "groups" => case.groups = value.split(',').map(str::to_owned).collect(),
                    "trust" => case.trust = value != "no",
                    "table" => case.table = Some(value.split_once('.').expect("schema.table")),
                    "schema" => case.schema = Some(value),
                    other => panic!("unknown case field `{other}`"),
                }
            }
            case
        })
        .collect();
    assert!(!cases.is_empty(), "no `# case:` lines");
    cases
}
