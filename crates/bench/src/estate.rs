//! A synthetic but realistic estate: data sources with 5–50 tagged columns, users with groups
//! and attributes, and a mix of subscriptions, global tag masks, local masks and row filters.
//! Deterministic for a seed, so runs compare.

use std::collections::BTreeMap;

use veil_policy::{
    Bundle, ColumnSpec, Condition, DataSourceSpec, MatchSpec, PolicyKind, PolicySpec, ProjectSpec,
    PurposeSpec, SampleSpec, TimeWindowSpec, UserSpec,
};

/// A small, fast, deterministic generator (xorshift64*).
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub data_sources: usize,
    pub users: usize,
    pub policies: usize,
}

const DOMAINS: &[&str] = &[
    "Finance",
    "Sales",
    "HR",
    "Marketing",
    "Ops",
    "Risk",
    "Legal",
    "Product",
];
const COLUMN_TAGS: &[&str] = &[
    "PII",
    "PII.Email",
    "PII.Phone",
    "PII.Name",
    "PII.Address",
    "Financial",
    "Financial.Salary",
    "Health",
    "Secret",
    "Internal",
];
const TYPES: &[&str] = &[
    "bigint",
    "varchar",
    "varchar(64)",
    "double",
    "date",
    "timestamp(3)",
    "integer",
    "decimal(12,2)",
    "boolean",
];
const REGIONS: &[&str] = &["EU", "US", "APAC", "LATAM", "MEA"];
const GROUPS: usize = 200;

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

pub fn generate(size: Size, seed: u64) -> Bundle {
    let mut random = Random::new(seed);
    let mut file = Bundle::default();
    for index in 0..size.data_sources {
        let domain = DOMAINS[index % DOMAINS.len()];
        let column_count = 5 + random.below(46);
        let mut columns = vec![
            ColumnSpec {
                name: "id".into(),
                data_type: "bigint".into(),
                ..ColumnSpec::default()
            },
            ColumnSpec {
                name: "region".into(),
                data_type: "varchar".into(),
                ..ColumnSpec::default()
            },
            ColumnSpec {
                name: "updated_at".into(),
                data_type: "timestamp(3)".into(),
                ..ColumnSpec::default()
            },
        ];
        for column in columns.len()..column_count {
            let tags = if random.chance(30) {
                vec![COLUMN_TAGS[random.below(COLUMN_TAGS.len())].to_owned()]
            } else {
                Vec::new()
            };
            columns.push(ColumnSpec {
                name: format!("c{column}"),
                data_type: TYPES[random.below(TYPES.len())].to_owned(),
                tags,
                description: None,
            });
        }
        file.data_sources.push(DataSourceSpec {
            name: format!("{}.t{index}", domain.to_lowercase()),
            table: format!("hive.{}.t{index}", domain.to_lowercase()),
            tags: vec![domain.to_owned()],
            columns,
            description: None,
        });
    }
    for index in 0..size.users {
        let groups = (0..1 + random.below(4))
            .map(|_| format!("g{}", random.below(GROUPS)))
            .collect();
        let attributes: BTreeMap<String, Vec<String>> = [
            (
                "region".to_owned(),
                vec![REGIONS[random.below(REGIONS.len())].to_owned()],
            ),
            ("level".to_owned(), vec![(1 + random.below(5)).to_string()]),
        ]
        .into_iter()
        .collect();
        file.users.push(UserSpec {
            name: format!("u{index}"),
            groups,
            attributes: attributes.into(),
            ..Default::default()
        });
    }
    file.purposes = ["audit", "fraud", "research"]
        .iter()
        .map(|name| PurposeSpec {
            name: name.to_string(),
            description: None,
        })
        .collect();
    file.projects = vec![ProjectSpec {
        name: "audit-2026".into(),
        purposes: strings(&["audit"]),
        members: (0..100).map(|index| format!("u{index}")).collect(),
    }];
    let group = |random: &mut Random| format!("g{}", random.below(GROUPS));
    // One broad subscription per domain keeps most (user, table) pairs visible, as in a real
    // estate where analysts see most of their domain; the rest add per-table conditions.
    for domain in DOMAINS {
        let mut policy = base(&format!("sub-{domain}"), PolicyKind::Subscription);
        policy.on.tags = vec![domain.to_string()];
        policy.allow = Some(Condition::Not(Box::new(Condition::Groups(vec![
            "g0".into(),
        ]))));
        file.policies.push(policy);
    }
    let mut index = 0;
    while file.policies.len() < size.policies {
        index += 1;
        let name = format!("p{index}");
        let table = random.below(size.data_sources);
        let data_source = file.data_sources[table].clone();
        let policy = match index % 10 {
            0 | 1 => {
                let mut policy = base(&name, PolicyKind::Subscription);
                policy.on.data_sources = vec![data_source.name.clone()];
                policy.allow = Some(Condition::Any(vec![
                    Condition::Groups(vec![group(&mut random), group(&mut random)]),
                    Condition::Attributes(
                        [("level".into(), strings(&["1", "2", "3", "4"]))]
                            .into_iter()
                            .collect(),
                    ),
                ]));
                policy
            }
            2..=4 => {
                let mut policy = base(&name, PolicyKind::Mask);
                policy.on.column_tags =
                    vec![COLUMN_TAGS[random.below(COLUMN_TAGS.len())].to_owned()];
                policy.on.tags = vec![DOMAINS[random.below(DOMAINS.len())].to_owned()];
                let (method, configure): (&str, fn(&mut PolicySpec)) = match random.below(4) {
                    0 => ("hash", |_| {}),
                    1 => ("nullify", |_| {}),
                    2 => ("partial", |policy| policy.keep_last = Some(4)),
                    _ => ("hash", |_| {}),
                };
                policy.method = Some(method.into());
                configure(&mut policy);
                policy.except_condition = Some(Condition::Groups(vec![group(&mut random)]));
                policy
            }
            5..=7 => {
                let mut policy = base(&name, PolicyKind::Mask);
                policy.on.data_sources = vec![data_source.name.clone()];
                let column = &data_source.columns[random.below(data_source.columns.len())];
                policy.on.columns = vec![column.name.clone()];
                policy.method = Some("nullify".into());
                policy.for_condition =
                    Some(Condition::Not(Box::new(Condition::Purposes(strings(&[
                        "audit",
                    ])))));
                if random.chance(30) {
                    policy.when = Some("region <> user_name()".into());
                }
                policy
            }
            _ => {
                let mut policy = base(&name, PolicyKind::RowFilter);
                policy.on.data_sources = vec![data_source.name.clone()];
                match random.below(4) {
                    0 => {
                        policy.match_attribute = Some(MatchSpec {
                            column: "region".into(),
                            attribute: "region".into(),
                        })
                    }
                    1 => policy.where_predicate = Some("id > 0 OR user_in_group('g1')".into()),
                    2 => {
                        policy.time_window = Some(TimeWindowSpec {
                            column: "updated_at".into(),
                            days: Some(90),
                            hours: None,
                            minutes: None,
                        })
                    }
                    _ => {
                        policy.sample = Some(SampleSpec {
                            percent: 10.0,
                            column: "id".into(),
                        })
                    }
                }
                policy.except_condition = Some(Condition::Groups(vec![group(&mut random)]));
                policy
            }
        };
        file.policies.push(policy);
    }
    file
}

fn base(name: &str, kind: PolicyKind) -> PolicySpec {
    PolicySpec::new(name, kind)
}
