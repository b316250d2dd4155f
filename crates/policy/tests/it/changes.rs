//! What a change affects: every data source a changed policy reached before or reaches now.

use veil_policy::Estate;

const ESTATE: &str = include_str!("decisions/estate.yaml");

/// A changed policy affects every data source it reached before or reaches now, whatever part
/// of the bindings names it, and nothing else.
#[test]
fn a_changed_policy_affects_what_it_reached_and_what_it_reaches() {
    let old = Estate::from_yaml(ESTATE).unwrap_or_else(|errors| panic!("{errors}"));
    let mut file = old.to_file();
    // A PII mask moves from `column_tags: [PII]` (only s.people has PII columns) to the `id`
    // column of s.open.
    for policy in &mut file.policies {
        if policy.name == "a-hash" {
            policy.on.column_tags.clear();
            policy.on.data_sources = vec!["s.open".into()];
            policy.on.columns = vec!["id".into()];
        }
    }
    let new = Estate::new(file.clone(), None).unwrap_or_else(|errors| panic!("{errors}"));
    let changes = veil_policy::diff(&old.to_file(), &file);
    assert_eq!(changes.len(), 1, "{changes:?}");
    let affected = veil_policy::affected(&old, &new, &changes);
    assert!(!affected.everything);
    assert!(affected.users.is_empty());
    assert_eq!(
        affected.data_sources.into_iter().collect::<Vec<_>>(),
        vec!["s.open".to_string(), "s.people".to_string()]
    );
}
