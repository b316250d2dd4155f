//! What reading a bundle needs code for: YAML 1.1 scalars, export round trips and condition
//! shapes read on their own.

use veil_policy::{Bundle, Condition, Estate};

const BASE: &str = include_str!("load_errors/base.yaml");

#[test]
fn export_round_trips() {
    let estate = Estate::from_yaml(BASE).unwrap();
    let exported = estate.to_file().to_yaml();
    let again = Estate::from_yaml(&exported).unwrap();
    assert_eq!(again.to_file(), estate.to_file());
    assert_eq!(
        estate.to_file().data_sources[0].columns[1].data_type,
        "varchar(15)"
    );
}

/// Plain scalars that YAML 1.1 would read as booleans, numbers or null are names like any other
/// where the file expects a string, and a shape error names its line.
#[test]
fn plain_scalars_stay_strings_and_shape_errors_name_their_line() {
    let text = r#"
users:
  - {name: yes, groups: [no, on, off, "1", 1.0, 007, 0x1F, ~x]}
"#;
    let file = Bundle::from_yaml(text).unwrap();
    assert_eq!(file.users[0].name, "yes");
    assert_eq!(
        file.users[0].groups,
        ["no", "on", "off", "1", "1.0", "007", "0x1F", "~x"]
    );
    let error = Bundle::from_yaml("users:\n  - name: ana\n    gruops: [g]\n").unwrap_err();
    assert_eq!(error.line, Some(3));
    assert!(error.message.contains("unknown field `gruops`"), "{error}");
}

#[test]
fn conditions_reject_bad_shapes() {
    for text in ["nobody", "{users: [a], groups: [b]}", "{teams: [a]}", "{}"] {
        assert!(serde_norway::from_str::<Condition>(text).is_err(), "{text}");
    }
}
