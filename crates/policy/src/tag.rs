//! Hierarchical tags: `PII` matches `PII` and `PII.Email`, never `PIIX`.

/// How deep a policy tag matches a carried tag: `Some(segments of the policy tag)` when
/// `carried` is `policy_tag` or lies under it, `None` otherwise.
pub fn match_depth(policy_tag: &str, carried: &str) -> Option<usize> {
    let under = carried
        .strip_prefix(policy_tag)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
    under.then(|| policy_tag.split('.').count())
}

/// The deepest match of any policy tag against any carried tag.
pub fn deepest_match(policy_tags: &[String], carried: &[String]) -> Option<usize> {
    policy_tags
        .iter()
        .flat_map(|policy_tag| {
            carried
                .iter()
                .filter_map(|tag| match_depth(policy_tag, tag))
        })
        .max()
}

/// Whether `name` matches a data-source glob: `*` matches any run of characters, `?` one.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == name;
    }
    // `?` is one character: bytes stand for characters only when both are ASCII.
    if pattern.is_ascii() && name.is_ascii() {
        matches(pattern.as_bytes(), name.as_bytes(), b'*', b'?')
    } else {
        let pattern: Vec<char> = pattern.chars().collect();
        let name: Vec<char> = name.chars().collect();
        matches(&pattern, &name, '*', '?')
    }
}

/// Wildcard matching with backtracking to the last `*` only: linear in practice.
fn matches<T: PartialEq + Copy>(pattern: &[T], name: &[T], any_run: T, any_one: T) -> bool {
    let (mut p, mut n) = (0, 0);
    let (mut star, mut star_n) = (None, 0);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == any_one || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == any_run {
            star = Some(p);
            star_n = n;
            p += 1;
        } else if let Some(star_p) = star {
            p = star_p + 1;
            star_n += 1;
            n = star_n;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&character| character == any_run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_hierarchically() {
        assert_eq!(match_depth("PII", "PII"), Some(1));
        assert_eq!(match_depth("PII", "PII.Email"), Some(1));
        assert_eq!(match_depth("PII.Email", "PII.Email"), Some(2));
        assert_eq!(match_depth("PII.Email", "PII"), None);
        assert_eq!(match_depth("PII", "PIIX"), None);
        let policy = vec!["PII".to_owned(), "PII.Email".to_owned()];
        assert_eq!(
            deepest_match(&policy, &["PII.Email.Work".to_owned()]),
            Some(2)
        );
        assert_eq!(deepest_match(&policy, &["Finance".to_owned()]), None);
    }

    #[test]
    fn globs() {
        assert!(glob_matches("sales.*", "sales.customers"));
        assert!(!glob_matches("sales.*", "hr.people"));
        assert!(glob_matches("*", "a.b"));
        assert!(glob_matches("s?les.c*s", "sales.customers"));
        assert!(glob_matches("sales.customers", "sales.customers"));
        assert!(!glob_matches("sales.customer", "sales.customers"));
        // `?` is one character, also when it takes more than one byte.
        assert!(glob_matches("caf?.t", "café.t"));
        assert!(!glob_matches("caf??.t", "café.t"));
        assert!(glob_matches("*é*", "café.t"));
        assert!(!glob_matches("*è*", "café.t"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
    }
}
