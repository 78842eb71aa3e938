//! What deployer records on the Auto Scaling Group itself, in tags: a capacity set by
//! `deployer scale` (which later applies keep), and a roll in progress (which the next apply
//! resumes). The cloud is the state, so these live with the group.

use std::fmt;

/// A capacity set by `deployer scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleOverride {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    /// When, as RFC 3339.
    pub at: String,
}

/// A roll in progress: the capacity to return to, and the versions it goes between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollState {
    pub desired: i32,
    pub max: i32,
    pub from: i64,
    pub to: i64,
}

fn fields(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split_whitespace()
        .filter_map(|field| field.split_once('='))
}

fn number<T: std::str::FromStr>(text: &str, key: &str) -> Option<T> {
    fields(text).find(|(k, _)| *k == key)?.1.parse().ok()
}

impl ScaleOverride {
    pub fn parse(text: &str) -> Option<Self> {
        Some(ScaleOverride {
            min: number(text, "min")?,
            max: number(text, "max")?,
            desired: number(text, "desired")?,
            at: fields(text).find(|(k, _)| *k == "at")?.1.to_string(),
        })
    }
}

impl fmt::Display for ScaleOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "min={} max={} desired={} at={}",
            self.min, self.max, self.desired, self.at
        )
    }
}

impl RollState {
    pub fn parse(text: &str) -> Option<Self> {
        Some(RollState {
            desired: number(text, "desired")?,
            max: number(text, "max")?,
            from: number(text, "from")?,
            to: number(text, "to")?,
        })
    }
}

impl fmt::Display for RollState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "desired={} max={} from={} to={}",
            self.desired, self.max, self.from, self.to
        )
    }
}

/// Which launch template versions the instances run: `all on v3`, or `1 on v2, 2 on v3`.
pub fn versions_summary(versions: &[String], group_version: Option<&str>) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for version in versions {
        *counts.entry(version.as_str()).or_default() += 1;
    }
    match counts.len() {
        0 => format!("all on v{}", group_version.unwrap_or("?")),
        1 => format!("all on v{}", counts.keys().next().unwrap()),
        _ => counts
            .iter()
            .map(|(version, count)| format!("{count} on v{version}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        let scale = ScaleOverride {
            min: 2,
            max: 10,
            desired: 4,
            at: "2026-11-21T10:00:00Z".into(),
        };
        assert_eq!(ScaleOverride::parse(&scale.to_string()), Some(scale));
        let roll = RollState {
            desired: 3,
            max: 6,
            from: 1,
            to: 2,
        };
        assert_eq!(RollState::parse(&roll.to_string()), Some(roll));
        assert_eq!(RollState::parse("desired=3"), None);
    }

    #[test]
    fn instance_versions_are_summarised() {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(versions_summary(&v(&["2", "2"]), Some("2")), "all on v2");
        assert_eq!(
            versions_summary(&v(&["1", "2", "2"]), Some("2")),
            "1 on v1, 2 on v2"
        );
        assert_eq!(versions_summary(&[], Some("3")), "all on v3");
    }
}
