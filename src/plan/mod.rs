//! The plan: desired resources against observed ones, resource by resource, as create / update /
//! replace / delete with the attribute changes and reasons, and the order the steps may run in.
//! Pure: no I/O, serialisable, printable. What it says is what apply executes.

mod graph;
pub mod saved;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::ResourceId;
use crate::ids::tags::TAG_APPLIED;
pub use crate::resources::attributes::{Action, Change};
use crate::resources::attributes::{Attribute, Mode, applied_digest, differences};
use crate::resources::observed::{Observed, ObservedResource, Status};
use crate::resources::{Known, Ledger, Live, NoteContext, Options, PlanScope, handler};
use crate::stack::Desired;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: ResourceId,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Why a replace is needed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// What the resource needs before it can exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ResourceId>,
    /// The steps that go first: what it depends on (for a delete: what depends on it). For what
    /// is usable once created, only until it exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<ResourceId>,
    /// Anything else worth saying (a live resource still being created, a retained database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The profile asks for what deployer last applied, so the differences were made outside
    /// deployer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
}

impl Step {
    /// What `change` does to the running resource, when AWS applies it with an interruption.
    pub fn disruption(&self, change: &Change) -> Option<&'static str> {
        (self.action == Action::Update)
            .then(|| handler(self.id.kind).disruption(change))
            .flatten()
    }

    /// A step on a live resource with nothing to compare: a delete, a retain, a kept leftover.
    pub fn bare(id: ResourceId, action: Action, note: Option<String>) -> Self {
        Step {
            id,
            action,
            changes: vec![],
            reasons: vec![],
            depends_on: vec![],
            after: vec![],
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

    /// The changes AWS applies to a running database or cache with an interruption (a reboot,
    /// a failover) or a slowdown: "resource: attribute (what it does)".
    pub fn disruptions(&self) -> Vec<String> {
        self.steps
            .iter()
            .flat_map(|step| {
                step.changes.iter().filter_map(move |change| {
                    step.disruption(change)
                        .map(|what| format!("{}: {} ({what})", step.id, change.attribute))
                })
            })
            .collect()
    }

    pub fn count(&self, action: Action) -> usize {
        self.steps.iter().filter(|s| s.action == action).count()
    }

    pub fn step(&self, id: &ResourceId) -> Option<&Step> {
        self.steps.iter().find(|s| &s.id == id)
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

/// What is known of the resources whose values a step's dependents may rely on, as a plan
/// decides it: a resource its step keeps (with its outputs, unless an update changes them), and
/// which ones the run creates. The engine knows the same from what it did.
#[derive(Debug, Default)]
struct Knowledge {
    ledger: Ledger,
    fresh: BTreeSet<ResourceId>,
}

impl Knowledge {
    fn known(&self) -> Known<'_> {
        Known {
            ledger: &self.ledger,
            fresh: &self.fresh,
        }
    }

    fn learn(&mut self, step: &Step, live: Option<&ObservedResource>) {
        match (step.action, live) {
            (Action::Create | Action::Replace, _) => {
                self.fresh.insert(step.id.clone());
            }
            (Action::None, Some(live)) => {
                self.ledger.insert(step.id.clone(), Live::of(live));
            }
            (Action::Update, Some(live)) if handler(step.id.kind).keeps_outputs(&step.changes) => {
                self.ledger.insert(step.id.clone(), Live::of(live));
            }
            _ => {}
        }
    }
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
    for index in graph::creation_order(&desired.resources) {
        let resource = &desired.resources[index];
        let live = observed.get(&resource.id);
        let attributes = handler(resource.id.kind).attributes(resource, knowledge.known(), live);
        let step = match live {
            None => Step {
                id: resource.id.clone(),
                action: Action::Create,
                changes: attributes.iter().map(Change::creation).collect(),
                depends_on: resource.depends_on.clone(),
                ..Step::bare(resource.id.clone(), Action::Create, None)
            },
            Some(live) => compare(resource.id.clone(), &attributes, live, &resource.depends_on),
        };
        knowledge.learn(&step, live);
        steps.push(step);
    }

    let mut actions: BTreeMap<ResourceId, Action> =
        steps.iter().map(|s| (s.id.clone(), s.action)).collect();
    // What the profile no longer asks for: each kind may decide (retention, a bake's leftovers);
    // data is retained, and what a retained data store still uses with it; the rest goes.
    let wanted: BTreeSet<&ResourceId> = desired.resources.iter().map(|r| &r.id).collect();
    let leftovers: Vec<&ObservedResource> = observed
        .resources
        .iter()
        .filter(|r| !wanted.contains(&r.id))
        .filter(|r| !matches!(r.status, Status::Deleting(_)))
        .collect();
    let used_by_retained: BTreeSet<ResourceId> = leftovers
        .iter()
        .filter(|live| handler(live.id.kind).about().holds_data)
        .flat_map(|live| handler(live.id.kind).live_dependencies(live, observed))
        .collect();
    let mut decided = Vec::new();
    {
        let scope = PlanScope {
            names: &names,
            desired: &desired.resources,
            observed,
            actions: &actions,
            retention: &desired.retention,
        };
        for live in graph::deletion_order(&leftovers, observed) {
            let kind = handler(live.id.kind);
            let (action, note) = if let Some(decision) = kind.leftover(live, &scope) {
                decision
            } else if kind.about().holds_data {
                (
                    Action::Retain,
                    Some("no longer in the profile; apply does not delete data: `deployer destroy` or delete it yourself".to_string()),
                )
            } else if used_by_retained.contains(&live.id) {
                (
                    Action::Retain,
                    Some(
                        "no longer in the profile, but a retained data store still uses it"
                            .to_string(),
                    ),
                )
            } else {
                (Action::Delete, None)
            };
            decided.push(Step::bare(live.id.clone(), action, note));
        }
    }
    actions.extend(decided.iter().map(|s| (s.id.clone(), s.action)));
    steps.extend(decided);

    // What each kind says of its own steps.
    let scope = PlanScope {
        names: &names,
        desired: &desired.resources,
        observed,
        actions: &actions,
        retention: &desired.retention,
    };
    for step in &mut steps {
        let Some(resource) = desired.get(&step.id) else {
            continue;
        };
        let context = NoteContext {
            resource,
            action: step.action,
            changes: &step.changes,
            live: observed.get(&step.id),
            note: step.note.as_deref(),
            plan: &scope,
        };
        step.note = handler(step.id.kind).note(&context);
    }
    graph::set_order(&mut steps, observed);
    Ok(Plan {
        stack: desired.stack.clone(),
        steps,
    })
}

/// Delete every resource of the stack that `observed` holds and the stack owns (but `keep`),
/// each after what depends on it, with what deleting it leaves or loses.
pub fn destroy(
    stack: &str,
    observed: &Observed,
    keep: impl Fn(&ObservedResource) -> bool,
    options: &Options,
) -> Plan {
    let owned: Vec<&ObservedResource> = observed
        .resources
        .iter()
        .filter(|r| r.owner() == Some(stack))
        .filter(|r| !keep(r))
        .collect();
    let mut steps: Vec<Step> = graph::deletion_order(&owned, observed)
        .into_iter()
        .map(|live| {
            let note = handler(live.id.kind).delete_note(options);
            Step::bare(live.id.clone(), Action::Delete, note)
        })
        .collect();
    graph::set_order(&mut steps, observed);
    Plan {
        stack: stack.to_string(),
        steps,
    }
}

/// The step that takes `live` to `attributes`.
fn compare(
    id: ResourceId,
    attributes: &[Attribute],
    live: &ObservedResource,
    depends_on: &[ResourceId],
) -> Step {
    let stateful = handler(id.kind).about().holds_data;
    let mut note = match &live.status {
        Status::Pending(state) => Some(format!("live, {state}: apply waits for it")),
        Status::Failed(state) => Some(format!("live, {state}: AWS reports it failed")),
        Status::Deleting(state) => Some(format!("live, {state}: apply waits, then creates it")),
        Status::Ready => None,
    };
    if matches!(live.status, Status::Deleting(_)) {
        return Step {
            changes: attributes.iter().map(Change::creation).collect(),
            depends_on: depends_on.to_vec(),
            ..Step::bare(id, Action::Create, note)
        };
    }
    let changes = differences(attributes, &live.attributes);
    let mut reasons: Vec<String> = changes
        .iter()
        .filter(|c| c.mode == Mode::Replace)
        .map(|c| format!("{} cannot change in place", c.attribute))
        .collect();
    if let Status::Failed(state) = &live.status
        && !stateful
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
    if action == Action::Replace && stateful {
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
        changes,
        reasons,
        depends_on: depends_on.to_vec(),
        drift,
        ..Step::bare(id, action, note)
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

#[cfg(test)]
mod bake_tests;
