//! Validation of the `[scaling]` section, and the capacity rules `deployer scale` shares with it.

use std::collections::BTreeSet;

use super::schema::{Metric, Scaling};
use super::validate::Problems;

/// The largest group AWS allows.
pub const MAX_CAPACITY: i32 = 10000;

/// What is wrong with a capacity: (which field, message, hint). `desired` may be absent.
pub fn capacity_problems(
    min: i32,
    max: i32,
    desired: Option<i32>,
) -> Vec<(&'static str, String, String)> {
    let mut problems = Vec::new();
    if !(0..=MAX_CAPACITY).contains(&min) {
        problems.push((
            "min",
            format!("{min} is out of range"),
            format!("the minimum size must be from 0 to {MAX_CAPACITY}"),
        ));
    }
    if !(1..=MAX_CAPACITY).contains(&max) {
        problems.push((
            "max",
            format!("{max} is out of range"),
            format!("the maximum size must be from 1 to {MAX_CAPACITY}"),
        ));
    }
    if min > max {
        problems.push((
            "min",
            format!("min ({min}) is greater than max ({max})"),
            "min <= desired <= max".to_string(),
        ));
    }
    if let Some(desired) = desired
        && (desired < min || desired > max)
    {
        problems.push((
            "desired",
            format!("desired ({desired}) is outside min..max ({min}..{max})"),
            "min <= desired <= max".to_string(),
        ));
    }
    problems
}

const TERMINATION_POLICIES: &[&str] = &[
    "Default",
    "AllocationStrategy",
    "OldestLaunchTemplate",
    "OldestLaunchConfiguration",
    "ClosestToNextInstanceHour",
    "NewestInstance",
    "OldestInstance",
];

pub(super) fn check(scaling: &Scaling, at: &str, problems: &mut Problems) {
    for (field, message, hint) in capacity_problems(scaling.min, scaling.max, scaling.desired) {
        problems.add(format!("{at}.{field}"), message, Some(&hint));
    }
    problems.range(
        &format!("{at}.health_check_grace_period"),
        scaling.health_check_grace_period.into(),
        0,
        86400,
        "the health check grace period in seconds",
    );
    if !(10..=24 * 3600).contains(&scaling.roll_timeout.as_secs()) {
        problems.add(
            format!("{at}.roll_timeout"),
            format!("{} is out of range", scaling.roll_timeout),
            Some("a batch may take from 10s to 24h to become healthy"),
        );
    }
    if let Some(warmup) = scaling.instance_warmup {
        problems.range(
            &format!("{at}.instance_warmup"),
            warmup.into(),
            0,
            3600,
            "the instance warm-up in seconds",
        );
    }
    for (i, policy) in scaling.termination_policies.iter().enumerate() {
        if !TERMINATION_POLICIES.contains(&policy.as_str()) {
            problems.add(
                format!("{at}.termination_policies[{i}]"),
                format!("`{policy}` is not a termination policy"),
                Some(&format!(
                    "allowed values: {}",
                    TERMINATION_POLICIES.join(", ")
                )),
            );
        }
    }
    let mut names = BTreeSet::new();
    for (i, policy) in scaling.target_tracking.iter().enumerate() {
        let key = format!("{at}.target_tracking[{i}]");
        name(&policy.name, &format!("{key}.name"), &mut names, problems);
        match policy.metric {
            Metric::RequestCount => problems.add(
                format!("{key}.metric"),
                "request count per target needs an Application Load Balancer, and this stack's is a Classic ELB",
                Some("track cpu, network_in or network_out"),
            ),
            Metric::Cpu if !(policy.target > 0.0 && policy.target <= 100.0) => problems.add(
                format!("{key}.target"),
                format!("{} is not a CPU percentage", policy.target),
                Some("a CPU target is a percentage above 0 and at most 100, e.g. 60"),
            ),
            _ if policy.target <= 0.0 => problems.add(
                format!("{key}.target"),
                format!("{} is not a positive target", policy.target),
                Some("a target value is above 0"),
            ),
            _ => {}
        }
    }
    for (i, action) in scaling.scheduled.iter().enumerate() {
        let key = format!("{at}.scheduled[{i}]");
        name(&action.name, &format!("{key}.name"), &mut names, problems);
        let fields = action.recurrence.split_whitespace().count();
        if fields != 5 {
            problems.add(
                format!("{key}.recurrence"),
                format!(
                    "`{}` has {fields} fields; a cron recurrence has 5",
                    action.recurrence
                ),
                Some("minute hour day-of-month month day-of-week, e.g. \"0 8 * * MON-FRI\""),
            );
        }
        if action.min.is_none() && action.max.is_none() && action.desired.is_none() {
            problems.add(
                &key,
                "the scheduled action changes nothing",
                Some("give min, max or desired (or several)"),
            );
        }
        let (min, max) = (action.min.unwrap_or(0), action.max.unwrap_or(MAX_CAPACITY));
        for (field, message, hint) in capacity_problems(min, max, action.desired) {
            problems.add(format!("{key}.{field}"), message, Some(&hint));
        }
        if let Some(zone) = &action.time_zone
            && !(zone == "UTC" || zone.contains('/'))
        {
            problems.add(
                format!("{key}.time_zone"),
                format!("`{zone}` is not an IANA time zone"),
                Some("time zones look like Europe/Berlin or America/New_York, or UTC"),
            );
        }
    }
}

/// Policy and action names: letters, digits, `-` and `_`, unique within the group.
fn name(name: &str, key: &str, seen: &mut BTreeSet<String>, problems: &mut Problems) {
    let valid = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        problems.add(
            key,
            format!("`{name}` is not a valid name"),
            Some("use letters, digits, - and _"),
        );
    } else if !seen.insert(name.to_string()) {
        problems.add(
            key,
            format!("`{name}` is used twice"),
            Some("scaling policies and scheduled actions need distinct names"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_must_be_ordered_and_in_range() {
        assert!(capacity_problems(2, 10, Some(4)).is_empty());
        let problems = capacity_problems(5, 3, Some(9));
        let fields: Vec<&str> = problems.iter().map(|p| p.0).collect();
        assert_eq!(fields, vec!["min", "desired"]);
        assert_eq!(capacity_problems(0, 0, None)[0].1, "0 is out of range");
    }
}
