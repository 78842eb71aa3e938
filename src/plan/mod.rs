//! The plan: desired resources against observed ones, resource by resource, as create / update /
//! replace / delete with the attribute changes and reasons. Pure: no I/O, serialisable, printable.

mod images;
pub mod observed;
pub mod saved;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::profile::scaling::roll_batch_size;
use crate::stack::attributes::{
    Attribute, Knowledge, Mode, Val, applied_digest, desired_attributes,
};
use crate::stack::capacity::ScaleOverride;
use crate::stack::naming::{Names, TAG_APPLIED};
use crate::stack::spec::{BakeSpec, GroupSpec, Kind, ResourceId, Spec};
use crate::stack::user_data::{CacheEndpoint, DatabaseEndpoint};
use crate::stack::{Desired, natural_dependencies};
use observed::{Observed, ObservedResource, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Exists and matches.
    None,
    Create,
    Update,
    /// Delete and create again, because an attribute cannot change in place.
    Replace,
    Delete,
    /// Exists, is no longer wanted, but holds data: apply leaves it to `deployer destroy`.
    Retain,
}

impl Action {
    pub fn is_change(self) -> bool {
        !matches!(self, Action::None | Action::Retain)
    }
}

/// One attribute's change. `new` is None when it is known only after apply (and `old` None when
/// the resource does not exist yet); a present JSON null is `Some(Value::Null)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub attribute: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub old: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub new: Option<Value>,
    pub mode: Mode,
}

/// A field that is present is `Some`, even when it is null: absence alone means None.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: ResourceId,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Why a replace is needed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ResourceId>,
    /// Anything else worth saying (a live resource still being created, a retained database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The profile asks for what deployer last applied, so the differences were made outside
    /// deployer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
}

impl Step {
    /// A step on a live resource with nothing to compare: a delete, a retain, a kept leftover.
    pub fn bare(id: ResourceId, action: Action, note: Option<String>) -> Self {
        Step {
            id,
            action,
            changes: vec![],
            reasons: vec![],
            depends_on: vec![],
            note,
            drift: false,
        }
    }

    /// Changes that lose data or cut service: replaces and deletes.
    pub fn is_destructive(&self) -> bool {
        matches!(self.action, Action::Replace | Action::Delete)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stack: String,
    /// Creates and updates in dependency order, then deletes in reverse dependency order.
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action.is_change())
    }

    pub fn count(&self, action: Action) -> usize {
        self.steps.iter().filter(|s| s.action == action).count()
    }
}

/// A resource that has one of the stack's names but not its ownership tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unowned {
    pub id: ResourceId,
    pub physical_id: String,
    pub owner: Option<String>,
}

impl std::fmt::Display for Unowned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.owner {
            Some(owner) => write!(
                f,
                "{} ({}) belongs to stack `{owner}`, not this one",
                self.id, self.physical_id
            ),
            None => write!(
                f,
                "{} ({}) exists but was not created by deployer (no deployer:stack tag)",
                self.id, self.physical_id
            ),
        }
    }
}

/// Live resources with our names that we do not own: deployer never changes or deletes them.
pub fn unowned(stack: &str, observed: &Observed) -> Vec<Unowned> {
    observed
        .resources
        .iter()
        .filter(|r| r.owner() != Some(stack))
        .map(|r| Unowned {
            id: r.id.clone(),
            physical_id: r.physical_id.clone(),
            owner: r.owner().map(str::to_string),
        })
        .collect()
}

/// Compare `desired` with `observed`. Fails when a live resource with one of our names is not
/// ours.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Plan, Vec<Unowned>> {
    let foreign = unowned(&desired.stack, observed);
    if !foreign.is_empty() {
        return Err(foreign);
    }
    let names = desired.names();
    let mut knowledge = Knowledge::default();
    let mut steps = Vec::new();
    for resource in &desired.resources {
        let live = observed.get(&resource.id);
        let attributes = desired_attributes(resource, &knowledge, live.map(|l| &l.attributes));
        let step = match live {
            None => Step {
                id: resource.id.clone(),
                action: Action::Create,
                changes: attributes.iter().map(creation).collect(),
                reasons: vec![],
                depends_on: resource.depends_on.clone(),
                note: None,
                drift: false,
            },
            Some(live) => compare(resource.id.clone(), &attributes, live, &resource.depends_on),
        };
        let step = match (&resource.spec, live) {
            (Spec::AutoScalingGroup(group), Some(live)) => with_group_note(step, group, live),
            _ => step,
        };
        learn(
            &mut knowledge,
            &resource.spec,
            &step,
            live,
            observed,
            &names,
        );
        steps.push(step);
    }
    let bakes = images::bakes_of(desired);
    let baking: Vec<&BakeSpec> = bakes
        .iter()
        .filter(|(id, _)| {
            steps.iter().any(|s: &Step| {
                &s.id == *id && matches!(s.action, Action::Create | Action::Replace)
            })
        })
        .map(|(_, spec)| *spec)
        .collect();
    for (id, spec) in &bakes {
        if let Some(step) = steps.iter_mut().find(|s| &s.id == *id)
            && step.note.is_none()
        {
            step.note = images::bake_note(spec, step, observed);
        }
    }
    let deleted_by_retention = images::retention(desired, observed, &baking);
    let wanted: BTreeSet<&ResourceId> = desired.resources.iter().map(|r| &r.id).collect();
    let mut leftovers: Vec<&ObservedResource> = observed
        .resources
        .iter()
        .filter(|r| !wanted.contains(&r.id))
        .collect();
    leftovers.retain(|live| !matches!(live.status, Status::Deleting(_)));
    leftovers.sort_by_key(|live| std::cmp::Reverse(live.id.kind));
    // What a retained data store still uses is retained with it.
    let used_by_retained: BTreeSet<ResourceId> = leftovers
        .iter()
        .filter(|live| live.id.kind.is_stateful())
        .flat_map(|live| natural_dependencies(&live.id, &names))
        .collect();
    for live in leftovers {
        let (action, note) = if let Some(decision) =
            images::leftover(live, desired, &baking, &deleted_by_retention)
        {
            decision
        } else if live.id.kind.is_stateful() {
            (
                Action::Retain,
                Some("no longer in the profile; apply does not delete data: `deployer destroy` or delete it yourself".to_string()),
            )
        } else if used_by_retained.contains(&live.id) {
            (
                Action::Retain,
                Some(
                    "no longer in the profile, but a retained data store still uses it".to_string(),
                ),
            )
        } else {
            (Action::Delete, None)
        };
        steps.push(Step::bare(live.id.clone(), action, note));
    }
    Ok(Plan {
        stack: desired.stack.clone(),
        steps,
    })
}

fn creation(attribute: &Attribute) -> Change {
    Change {
        attribute: attribute.key.clone(),
        old: None,
        new: match &attribute.value {
            Val::Known(v) => Some(v.clone()),
            Val::Unknown => None,
        },
        mode: attribute.mode,
    }
}

/// The changes needed to take `live` to `attributes`.
pub fn differences(attributes: &[Attribute], live: &ObservedResource) -> Vec<Change> {
    attributes
        .iter()
        .filter_map(|attribute| {
            let old = live.attributes.get(&attribute.key);
            let same = match (&attribute.value, old) {
                (Val::Unknown, _) => false,
                (Val::Known(want), None) => want.is_null(),
                (Val::Known(want), Some(have)) => match attribute.mode {
                    Mode::Version => version_satisfies(have, want),
                    Mode::Grow => match (have.as_i64(), want.as_i64()) {
                        (Some(have), Some(want)) => have >= want,
                        _ => have == want,
                    },
                    Mode::InPlace | Mode::Replace => have == want,
                },
            };
            (!same).then(|| Change {
                attribute: attribute.key.clone(),
                old: old.cloned(),
                new: match &attribute.value {
                    Val::Known(v) => Some(v.clone()),
                    Val::Unknown => None,
                },
                mode: attribute.mode,
            })
        })
        .collect()
}

fn compare(
    id: ResourceId,
    attributes: &[Attribute],
    live: &ObservedResource,
    depends_on: &[ResourceId],
) -> Step {
    let mut note = match &live.status {
        Status::Pending(state) => Some(format!("live, {state}: apply waits for it")),
        Status::Failed(state) => Some(format!("live, {state}: AWS reports it failed")),
        Status::Deleting(state) => Some(format!("live, {state}: apply waits, then creates it")),
        Status::Ready => None,
    };
    if matches!(live.status, Status::Deleting(_)) {
        return Step {
            id,
            action: Action::Create,
            changes: attributes.iter().map(creation).collect(),
            reasons: vec![],
            depends_on: depends_on.to_vec(),
            note,
            drift: false,
        };
    }
    let changes = differences(attributes, live);
    let mut reasons: Vec<String> = changes
        .iter()
        .filter(|c| c.mode == Mode::Replace)
        .map(|c| format!("{} cannot change in place", c.attribute))
        .collect();
    if let Status::Failed(state) = &live.status
        && !id.kind.is_stateful()
    {
        reasons.push(format!("AWS reports it {state}"));
    }
    let action = if !reasons.is_empty() {
        Action::Replace
    } else if !changes.is_empty() {
        Action::Update
    } else {
        Action::None
    };
    if action == Action::Replace && id.kind.is_stateful() {
        note = Some(format!(
            "deployer does not replace a {} that holds data: snapshot it, `deployer destroy`, then apply",
            id.kind.label()
        ));
    }
    let drift = action != Action::None
        && live
            .tags
            .get(TAG_APPLIED)
            .is_some_and(|applied| Some(applied) == applied_digest(attributes).as_ref());
    Step {
        id,
        action,
        changes,
        reasons,
        depends_on: depends_on.to_vec(),
        note,
        drift,
    }
}

/// Say what happens to the group's capacity and instances: a capacity `deployer scale` set is
/// kept, and instances on another launch template version are rolled.
fn with_group_note(mut step: Step, group: &GroupSpec, live: &ObservedResource) -> Step {
    let mut notes: Vec<String> = step.note.take().into_iter().collect();
    let scaled = live
        .attributes
        .get("scale_override")
        .and_then(|v| v.as_str())
        .and_then(ScaleOverride::parse);
    if let Some(scaled) = scaled
        && !group.reset_scale
    {
        notes.push(format!(
            "capacity min {} max {} (set by deployer scale at {}; profile says {}..{}): kept",
            scaled.min, scaled.max, scaled.at, group.min, group.max
        ));
    }
    if let Some(rolling) = live.attributes.get("rolling").and_then(|v| v.as_str()) {
        notes.push(format!(
            "a roll was interrupted ({rolling}): apply resumes it"
        ));
    }
    if step.changes.iter().any(|c| c.attribute == "instances") {
        let desired = live
            .attributes
            .get("desired_capacity")
            .and_then(|v| v.as_i64())
            .unwrap_or(1) as i32;
        let batch = roll_batch_size(&group.roll_batch, desired.max(1)).unwrap_or(1);
        notes.push(format!(
            "roll: {batch} instance(s) at a time, new ones healthy before old ones go; rolled back if a batch is not healthy within {}",
            crate::profile::validate::format_duration(group.roll_timeout_seconds)
        ));
    }
    step.note = (!notes.is_empty()).then(|| notes.join("; "));
    step
}

/// After deciding a resource's step, record what its dependents may rely on.
fn learn(
    knowledge: &mut Knowledge,
    spec: &Spec,
    step: &Step,
    live: Option<&ObservedResource>,
    observed: &Observed,
    names: &Names,
) {
    let keeps_endpoint = |step: &Step| {
        matches!(step.action, Action::None | Action::Update)
            && !step.changes.iter().any(|c| c.attribute == "port")
    };
    match spec {
        Spec::Database(_) => {
            knowledge.endpoints.database = live.filter(|_| keeps_endpoint(step)).and_then(|live| {
                let (host, port) = live.outputs.endpoint.clone()?;
                Some(DatabaseEndpoint {
                    host,
                    port,
                    secret_arn: live.outputs.arn.clone()?,
                })
            });
        }
        Spec::Cache(cache) => {
            let auth_secret_arn = if cache.auth_token {
                observed
                    .get(&ResourceId::new(
                        Kind::CacheAuthSecret,
                        cache.auth_secret.clone(),
                    ))
                    .and_then(|secret| secret.outputs.arn.clone())
            } else {
                None
            };
            knowledge.endpoints.cache = live
                .filter(|_| keeps_endpoint(step))
                .filter(|_| !cache.auth_token || auth_secret_arn.is_some())
                .and_then(|live| {
                    let (host, port) = live.outputs.endpoint.clone()?;
                    Some(CacheEndpoint {
                        host,
                        port,
                        auth_secret_arn,
                    })
                });
        }
        Spec::LoadBalancer(lb) => {
            // The group behind it: the main one, or the extra group the balancer fronts.
            let group = ResourceId::new(
                Kind::AutoScalingGroup,
                names.group(lb.group.as_deref()).auto_scaling_group,
            );
            let name = step.id.name.clone();
            if matches!(step.action, Action::Create | Action::Replace) {
                if observed.get(&group).is_some() {
                    knowledge.new_load_balancers.insert(name);
                }
            } else if let (Some(group), Some((dns, _))) =
                (&lb.group, live.and_then(|l| l.outputs.endpoint.as_ref()))
            {
                knowledge
                    .endpoints
                    .groups
                    .insert(group.clone(), dns.clone());
            }
        }
        Spec::Image(_) => {
            if let Some(live) = live.filter(|_| step.action == Action::None) {
                knowledge
                    .images
                    .insert(step.id.name.clone(), live.physical_id.clone());
            }
        }
        Spec::LaunchTemplate(_) => {
            if let Some(version) = live
                .filter(|_| step.action == Action::None)
                .and_then(|live| live.outputs.version)
            {
                knowledge
                    .launch_template_versions
                    .insert(step.id.name.clone(), version);
            }
        }
        _ => {}
    }
}

/// A live engine version satisfies a desired one when it is the same or newer, compared on the
/// desired version's parts (`16` matches `16.4`; `7.1` matches `7.1.0`; `16.8` satisfies `16.4`).
fn version_satisfies(live: &Value, desired: &Value) -> bool {
    let parse = |v: &Value| -> Option<Vec<u32>> {
        v.as_str()?
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u32>>>()
    };
    match (parse(live), parse(desired)) {
        (Some(mut live), Some(desired)) => {
            live.resize(live.len().max(desired.len()), 0);
            live[..desired.len()] >= desired[..]
        }
        _ => live == desired,
    }
}

/// Summary counts for messages: "3 to create, 1 to update, ...".
pub fn summary(plan: &Plan) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for step in &plan.steps {
        let label = match step.action {
            Action::Create => "to create",
            Action::Update => "to update",
            Action::Replace => "to replace",
            Action::Delete => "to delete",
            Action::None | Action::Retain => continue,
        };
        *counts.entry(label).or_default() += 1;
    }
    let order = ["to create", "to update", "to replace", "to delete"];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|label| counts.get(label).map(|n| format!("{n} {label}")))
        .collect();
    if parts.is_empty() {
        "no changes".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod group_tests;
