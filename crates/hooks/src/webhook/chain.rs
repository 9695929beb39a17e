//! Conversion chains: which rules, in order, turn a source version into the desired one.
//!
//! shell-operator caches paths built from its rules; this finds the shortest path with a
//! breadth-first search over the same edges, with the same version matching: `group/v1`
//! matches `v1`, and `v1` matches `group/v1`, but two different groups never match.

use crate::config::ConversionRule;
use std::collections::VecDeque;

/// Whether two versions name the same version (shell-operator's `VersionsMatched`).
pub(crate) fn versions_matched(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.split_once('/'), b.split_once('/')) {
        (None, Some((_, v))) => a == v,
        (Some((_, v)), None) => v == b,
        _ => false,
    }
}

/// The shortest sequence of rules (indexes into `rules`) leading from `from` to `to`; `None`
/// when no chain exists or `from` is already `to`.
pub(crate) fn find_chain(rules: &[ConversionRule], from: &str, to: &str) -> Option<Vec<usize>> {
    if versions_matched(from, to) {
        return None;
    }
    let mut queue = VecDeque::from([(from.to_string(), Vec::new())]);
    let mut seen = vec![from.to_string()];
    while let Some((version, path)) = queue.pop_front() {
        for (i, r) in rules.iter().enumerate() {
            if !versions_matched(&version, &r.from_version) {
                continue;
            }
            let mut next = path.clone();
            next.push(i);
            if versions_matched(&r.to_version, to) {
                return Some(next);
            }
            if !seen.iter().any(|s| versions_matched(s, &r.to_version)) {
                seen.push(r.to_version.clone());
                queue.push_back((r.to_version.clone(), next));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(from: &str, to: &str) -> ConversionRule {
        ConversionRule {
            from_version: from.into(),
            to_version: to.into(),
        }
    }

    #[test]
    fn versions_match_with_or_without_a_group_but_never_across_groups() {
        assert!(versions_matched("a.io/v1", "v1"));
        assert!(versions_matched("v1", "a.io/v1"));
        assert!(!versions_matched("a.io/v1", "b.io/v1"));
        assert!(!versions_matched("v1", "v2"));
    }

    #[test]
    fn chains_follow_the_documented_example() {
        // shell-operator's BINDING_CONVERSION.md example.
        let rules = [
            rule("unstable.crontab.io/v1beta1", "stable.example.com/v1beta1"),
            rule("stable.example.com/v1beta1", "stable.example.com/v1beta2"),
            rule("v1beta2", "v1"),
        ];
        assert_eq!(
            find_chain(
                &rules,
                "unstable.crontab.io/v1beta1",
                "stable.example.com/v1"
            ),
            Some(vec![0, 1, 2])
        );
        assert_eq!(
            find_chain(
                &rules,
                "stable.example.com/v1beta1",
                "stable.example.com/v1beta2"
            ),
            Some(vec![1])
        );
        assert_eq!(
            find_chain(
                &rules,
                "stable.example.com/v1",
                "unstable.crontab.io/v1beta1"
            ),
            None
        );
    }
}
