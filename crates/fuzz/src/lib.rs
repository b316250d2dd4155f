//! Veil's fuzzing: structured random inputs for the YAML loader, the predicate templates and
//! the compiler, and the properties they must keep. The crate's tests run a few cases of each;
//! the `veil-fuzz` binary runs them for as long as it is asked to.

pub mod check; // the properties: no panic, every statement parses, names and values exact
pub mod generate; // hostile strings, bundles, predicates from a small SQL grammar, mutated YAML

use std::fmt::Debug;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// The properties, each with its own generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    /// Raw and mutated YAML text into `Compiler::from_yaml`.
    Yaml,
    /// Generated bundles, compiled for every user and data source.
    Bundle,
    /// Predicates from the grammar, rendered for a hostile user.
    Predicate,
    /// Any text (grammar output, mutated, random) as a template.
    Template,
}

impl Property {
    pub const ALL: [Property; 4] = [
        Property::Yaml,
        Property::Bundle,
        Property::Predicate,
        Property::Template,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Property::Yaml => "yaml",
            Property::Bundle => "bundle",
            Property::Predicate => "predicate",
            Property::Template => "template",
        }
    }

    pub fn from_name(name: &str) -> Option<Property> {
        Property::ALL
            .into_iter()
            .find(|property| property.name() == name)
    }
}

/// A property that does not hold, with the smallest input proptest shrank it to.
#[derive(Debug, Clone)]
pub struct Failure {
    pub property: Property,
    pub seed: u64,
    pub reason: String,
    /// The minimal input, as Rust `Debug`.
    pub input: String,
    /// The minimal input as text a human can load: the YAML, predicate or template.
    pub text: String,
}

/// Runs `cases` cases of one property from `seed`; the same seed gives the same cases.
pub fn run(property: Property, cases: u32, seed: u64) -> Result<(), Box<Failure>> {
    match property {
        Property::Yaml => run_strategy(property, cases, seed, generate::yaml_text(), |text| {
            (check::yaml_loads_or_refuses(text), text.clone())
        }),
        Property::Bundle => run_strategy(property, cases, seed, generate::bundle_plan(), |plan| {
            (
                check::bundle_compiles_faithfully(plan),
                plan.build().to_yaml(),
            )
        }),
        Property::Predicate => {
            run_strategy(property, cases, seed, generate::predicate_case(), |case| {
                (
                    check::predicate_renders_faithfully(case),
                    case.predicate.to_sql(&case.pools, &mut Vec::new()),
                )
            })
        }
        Property::Template => {
            run_strategy(property, cases, seed, generate::template_text(), |text| {
                (check::template_text_renders_faithfully(text), text.clone())
            })
        }
    }
}

fn run_strategy<S>(
    property: Property,
    cases: u32,
    seed: u64,
    strategy: S,
    test: impl Fn(&S::Value) -> (Result<(), String>, String),
) -> Result<(), Box<Failure>>
where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8] = property as u8;
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let result = runner.run(&strategy, |value| {
        test(&value).0.map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Abort(reason)) => Err(Box::new(Failure {
            property,
            seed,
            reason: format!("aborted: {reason}"),
            input: String::new(),
            text: String::new(),
        })),
        Err(TestError::Fail(reason, value)) => {
            let text = test(&value).1;
            Err(Box::new(Failure {
                property,
                seed,
                reason: reason.to_string(),
                input: format!("{value:#?}"),
                text,
            }))
        }
    }
}
