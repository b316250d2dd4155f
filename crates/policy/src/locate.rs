//! Pointing load errors at lines: where an entity is written in the YAML text of a policy
//! file, found by its name, so errors found after parsing still name their line.

use crate::change::EntityKind;
use crate::error::{Entity, LoadErrors};

impl LoadErrors {
    /// Points every error that is in an entity but has no line at the line where that entity is
    /// written in `source`, the YAML text the bundle was read from.
    pub fn locate(&mut self, source: &str) {
        for error in &mut self.0 {
            if error.line.is_none()
                && let Some(entity) = &error.entity
            {
                error.line = entity_line(source, entity);
            }
        }
    }
}

/// The 1-based line of an entity: the settings' only setting, `mask_key`, or the line where
/// `name: <name>` first appears inside the entity's top-level section.
pub(crate) fn entity_line(source: &str, entity: &Entity) -> Option<usize> {
    let section = match entity.kind {
        EntityKind::DataSource => "data_sources",
        EntityKind::User => "users",
        EntityKind::Group => "groups",
        EntityKind::Purpose => "purposes",
        EntityKind::Project => "projects",
        EntityKind::Policy => "policies",
        EntityKind::Settings => {
            return source
                .lines()
                .position(|line| line.contains("mask_key"))
                .map(|index| index + 1);
        }
    };
    let mut inside = false;
    for (index, line) in source.lines().enumerate() {
        if !line.starts_with([' ', '\t', '-', '#']) && !line.is_empty() {
            inside = line.trim_end().strip_suffix(':') == Some(section)
                || line.starts_with(&format!("{section}:"));
        }
        if inside && line_names(line, &entity.name) {
            return Some(index + 1);
        }
    }
    None
}

fn line_names(line: &str, name: &str) -> bool {
    let mut rest = line;
    while let Some(position) = rest.find("name:") {
        let after = rest[position + 5..].trim_start();
        let value = after.strip_prefix(['\'', '"']).unwrap_or(after);
        if let Some(tail) = value.strip_prefix(name)
            && (tail.is_empty() || tail.starts_with([',', '}', ' ', '\'', '"']))
        {
            return true;
        }
        rest = &rest[position + 5..];
    }
    false
}
