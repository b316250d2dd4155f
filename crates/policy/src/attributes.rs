//! A user's attributes, stored compactly: the estate holds one set per user, 100,000 of them
//! at the bench's scale.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Attribute names with their values, sorted by name: a map that reads and writes as one
/// (`{region: [EU], level: ["3"]}`), kept as a sorted vector because a `BTreeMap` allocates a
/// node of about 540 bytes for even one entry, and most users have a few.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes(Vec<(String, Vec<String>)>);

impl Attributes {
    pub fn new() -> Attributes {
        Attributes(Vec::new())
    }

    pub fn get(&self, name: &str) -> Option<&Vec<String>> {
        self.find(name).ok().map(|index| &self.0[index].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets the values of `name`; returns those it had.
    pub fn insert(&mut self, name: String, values: Vec<String>) -> Option<Vec<String>> {
        match self.find(&name) {
            Ok(index) => Some(std::mem::replace(&mut self.0[index].1, values)),
            Err(index) => {
                self.0.insert(index, (name, values));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Vec<String>> {
        let index = self.find(name).ok()?;
        Some(self.0.remove(index).1)
    }

    /// Keeps the attributes for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut Vec<String>) -> bool) {
        self.0.retain_mut(|(name, values)| keep(name, values));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// In name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.0.iter().map(|(name, values)| (name, values))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(name, _)| name)
    }

    pub fn values(&self) -> impl Iterator<Item = &Vec<String>> {
        self.0.iter().map(|(_, values)| values)
    }

    /// Gives back what the vectors hold beyond their length (deserializing grows them).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
        for (_, values) in &mut self.0 {
            values.shrink_to_fit();
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|(existing, _)| existing.as_str().cmp(name))
    }
}

impl FromIterator<(String, Vec<String>)> for Attributes {
    /// A name given twice keeps its last values, as a map would.
    fn from_iter<I: IntoIterator<Item = (String, Vec<String>)>>(entries: I) -> Attributes {
        let mut attributes = Attributes::new();
        for (name, values) in entries {
            attributes.insert(name, values);
        }
        attributes
    }
}

impl std::ops::Index<&str> for Attributes {
    type Output = Vec<String>;

    /// The values of `name`; panics when there are none, as a map's index does.
    fn index(&self, name: &str) -> &Vec<String> {
        self.get(name)
            .unwrap_or_else(|| panic!("no attribute `{name}`"))
    }
}

impl Extend<(String, Vec<String>)> for Attributes {
    fn extend<I: IntoIterator<Item = (String, Vec<String>)>>(&mut self, entries: I) {
        for (name, values) in entries {
            self.insert(name, values);
        }
    }
}

impl<const N: usize> From<[(String, Vec<String>); N]> for Attributes {
    fn from(entries: [(String, Vec<String>); N]) -> Attributes {
        entries.into_iter().collect()
    }
}

impl From<BTreeMap<String, Vec<String>>> for Attributes {
    fn from(map: BTreeMap<String, Vec<String>>) -> Attributes {
        // Already sorted and unique.
        Attributes(map.into_iter().collect())
    }
}

impl From<Attributes> for BTreeMap<String, Vec<String>> {
    fn from(attributes: Attributes) -> BTreeMap<String, Vec<String>> {
        attributes.0.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a String, &'a Vec<String>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Vec<String>)>,
        fn(&'a (String, Vec<String>)) -> (&'a String, &'a Vec<String>),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(name, values)| (name, values))
    }
}

impl IntoIterator for Attributes {
    type Item = (String, Vec<String>);
    type IntoIter = std::vec::IntoIter<(String, Vec<String>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, values) in &self.0 {
            map.serialize_entry(name, values)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Attributes, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Attributes;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a map of attribute names to lists of values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut attributes = Attributes::new();
                while let Some((name, values)) = map.next_entry::<String, Vec<String>>()? {
                    attributes.insert(name, values);
                }
                attributes.shrink_to_fit();
                Ok(attributes)
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_as_a_sorted_map() {
        let from_map: Attributes =
            serde_norway::from_str("{region: [EU, US], level: ['3']}").unwrap();
        assert_eq!(from_map.keys().collect::<Vec<_>>(), ["level", "region"]);
        assert_eq!(from_map.get("region").unwrap(), &["EU", "US"]);
        assert_eq!(from_map.get("team"), None);
        assert_eq!(
            serde_norway::to_string(&from_map).unwrap(),
            "level:\n- '3'\nregion:\n- EU\n- US\n"
        );
    }

    #[test]
    fn edits_keep_the_order() {
        let mut attributes = Attributes::new();
        assert_eq!(attributes.insert("b".into(), vec!["1".into()]), None);
        assert_eq!(attributes.insert("a".into(), vec!["2".into()]), None);
        assert_eq!(
            attributes.insert("b".into(), vec!["3".into()]),
            Some(vec!["1".to_owned()])
        );
        assert_eq!(attributes.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(attributes.remove("a"), Some(vec!["2".to_owned()]));
        assert_eq!(attributes.len(), 1);
        assert!(!attributes.contains_key("a"));
    }
}
