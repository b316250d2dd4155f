//! A modest number of cases of each property, from a fixed seed so CI is repeatable; the
//! `veil-fuzz` binary runs the same properties for longer from other seeds.

use veil_fuzz::{Property, run};

fn check(property: Property, cases: u32) {
    if let Err(failure) = run(property, cases, 1) {
        panic!(
            "{} failed: {}\n--- text\n{}\n--- input\n{}",
            failure.property.name(),
            failure.reason,
            failure.text,
            failure.input
        );
    }
}

#[test]
fn yaml_loads_or_refuses() {
    check(Property::Yaml, 64);
}

#[test]
fn bundles_compile_faithfully() {
    check(Property::Bundle, 64);
}

#[test]
fn predicates_render_faithfully() {
    check(Property::Predicate, 128);
}

#[test]
fn templates_render_faithfully() {
    check(Property::Template, 128);
}
