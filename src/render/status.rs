//! What `deployer status` reports: the outputs, and for each node group its capacity (and any
//! `deployer scale` override), the launch template version it runs against the newest, and each
//! instance with its zone, version and health.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::plan::outputs_text;
use super::report::{Range, Report};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    pub stack: String,
    pub outputs: BTreeMap<String, String>,
    /// The main group (null when there is none).
    pub group: Option<GroupStatus>,
    /// The extra node groups that exist, by name.
    pub groups: BTreeMap<String, GroupStatus>,
    /// The stack's alarms, by name, firing ones first.
    pub alarms: Vec<AlarmStatus>,
}

/// One alarm as CloudWatch sees it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmStatus {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStatus {
    pub name: String,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub desired: Option<i64>,
    /// The profile's range.
    pub profile: Range,
    pub scale_override: Option<ScaleOverride>,
    /// The version the group launches, `<template> v<n>`.
    pub launch_template: Option<String>,
    pub newest_version: Option<i64>,
    /// Which versions the instances run: `all on v3`, `1 on v2, 2 on v3`.
    pub instances_on: Option<String>,
    /// A roll in progress, which the next apply resumes.
    pub rolling: Option<String>,
    pub instances: Vec<InstanceStatus>,
}

/// A capacity set by `deployer scale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleOverride {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub set_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceStatus {
    pub id: String,
    pub zone: String,
    pub version: Option<String>,
    pub lifecycle: String,
    /// On the group's load balancer (`InService`, `OutOfService`, `not registered`), or the
    /// group's own health for a group without one.
    pub health: String,
    pub reason: Option<String>,
    /// The command that opens a Session Manager shell on it (when the profile allows it).
    pub session: Option<String>,
}

/// A number as status shows it (`null` when AWS said nothing).
fn number(value: Option<i64>) -> String {
    value.map_or_else(|| "null".to_string(), |v| v.to_string())
}

impl Report for StatusReport {
    fn text(&self) -> String {
        let mut out = format!("Stack {}\n", self.stack);
        if self.outputs.is_empty() {
            out.push_str("\nNothing is deployed.\n");
            return out;
        }
        out.push('\n');
        let outputs: Vec<(String, String)> = self.outputs.clone().into_iter().collect();
        out.push_str(&outputs_text(&outputs));
        if let Some(group) = &self.group {
            group_text(group, &mut out);
        }
        for (name, group) in &self.groups {
            let _ = write!(out, "\nGroup {name}\n");
            group_text(group, &mut out);
        }
        if !self.alarms.is_empty() {
            let firing = self.alarms.iter().filter(|a| a.state == "ALARM").count();
            let _ = write!(out, "\nAlarms ({}, {firing} firing):\n", self.alarms.len());
            let width = self.alarms.iter().map(|a| a.name.len()).max().unwrap_or(0);
            for alarm in &self.alarms {
                let _ = write!(out, "  {:<width$}  {}", alarm.name, alarm.state);
                match &alarm.reason {
                    Some(reason) if alarm.state != "OK" => {
                        let _ = writeln!(out, "  ({reason})");
                    }
                    _ => out.push('\n'),
                }
            }
        }
        out
    }
}

fn group_text(group: &GroupStatus, out: &mut String) {
    let _ = write!(
        out,
        "\nCapacity: min {}, max {}, desired {}",
        number(group.min),
        number(group.max),
        number(group.desired)
    );
    if let Some(scaled) = &group.scale_override {
        let _ = write!(
            out,
            " (set by deployer scale at {}; profile says {}..{})",
            scaled.set_at, group.profile.min, group.profile.max
        );
    }
    let _ = writeln!(
        out,
        "\nLaunch template: the group runs {}; the newest version is v{}; instances: {}",
        group.launch_template.as_deref().unwrap_or("?"),
        number(group.newest_version),
        group.instances_on.as_deref().unwrap_or("?")
    );
    if let Some(rolling) = &group.rolling {
        let _ = writeln!(
            out,
            "Roll in progress ({rolling}): `deployer apply` resumes it"
        );
    }
    let _ = write!(out, "\nInstances ({}):\n", group.instances.len());
    for instance in &group.instances {
        let _ = writeln!(
            out,
            "  {}  {}  v{}  {}  {}{}",
            instance.id,
            instance.zone,
            instance.version.as_deref().unwrap_or("?"),
            instance.lifecycle,
            instance.health,
            instance
                .reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        if let Some(session) = &instance.session {
            let _ = writeln!(out, "      shell: {session}");
        }
    }
}
