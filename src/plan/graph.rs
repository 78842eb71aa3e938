//! The order of a plan's steps: the desired resources' dependency graph for creates and
//! updates, and the live resources' references (what uses what) for deletes. Orders are stable:
//! where the graph leaves them open they keep the order given (the registry's order of kinds).

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Step};
use crate::ids::ResourceId;
use crate::resources::observed::{Observed, ObservedResource};
use crate::resources::{REGISTRY, Resource, handler};

/// A stable topological order of `count` nodes: each after the nodes `before(i)` lists. Nodes
/// caught in a cycle (which the stack never builds) keep their place at the end.
fn stable_order(count: usize, before: impl Fn(usize) -> Vec<usize>) -> Vec<usize> {
    let needs: Vec<BTreeSet<usize>> = (0..count)
        .map(|i| before(i).into_iter().filter(|&j| j != i).collect())
        .collect();
    let mut placed = vec![false; count];
    let mut order = Vec::with_capacity(count);
    while order.len() < count {
        let next = (0..count).find(|&i| !placed[i] && needs[i].iter().all(|&j| placed[j]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => {
                order.extend((0..count).filter(|&i| !placed[i]));
                break;
            }
        }
    }
    order
}

/// The desired resources in an order where each comes after what it depends on.
pub fn creation_order(resources: &[Resource]) -> Vec<usize> {
    let index: BTreeMap<&ResourceId, usize> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| (&r.id, i))
        .collect();
    stable_order(resources.len(), |i| {
        resources[i]
            .depends_on
            .iter()
            .filter_map(|id| index.get(id).copied())
            .collect()
    })
}

fn registry_position(id: &ResourceId) -> usize {
    REGISTRY
        .iter()
        .position(|h| h.kind() == id.kind)
        .unwrap_or(usize::MAX)
}

/// Live resources in an order where each comes before what it uses (what uses a resource goes
/// first when deleting).
pub fn deletion_order<'a>(
    resources: &[&'a ObservedResource],
    observed: &Observed,
) -> Vec<&'a ObservedResource> {
    let mut sorted: Vec<&ObservedResource> = resources.to_vec();
    sorted.sort_by_key(|r| std::cmp::Reverse(registry_position(&r.id)));
    let index: BTreeMap<&ResourceId, usize> =
        sorted.iter().enumerate().map(|(i, r)| (&r.id, i)).collect();
    let uses: Vec<Vec<usize>> = sorted
        .iter()
        .map(|live| {
            handler(live.id.kind)
                .live_dependencies(live, observed)
                .iter()
                .filter_map(|id| index.get(id).copied())
                .collect()
        })
        .collect();
    // What uses a resource goes before it.
    stable_order(sorted.len(), |j| {
        (0..sorted.len())
            .filter(|&i| uses[i].contains(&j))
            .collect()
    })
    .into_iter()
    .map(|i| sorted[i])
    .collect()
}

/// Set what each step waits for. A create or update waits for the steps of what it depends
/// on (and, for a kind that allows one of a name per group, for that kind's deletes); a delete
/// waits for every step of a resource that depends on the deleted one, in the desired graph or
/// in what the live resources reference.
pub fn set_order(steps: &mut [Step], observed: &Observed) {
    let in_plan: BTreeSet<ResourceId> = steps.iter().map(|s| s.id.clone()).collect();
    let uses: BTreeMap<ResourceId, Vec<ResourceId>> = steps
        .iter()
        .map(|step| {
            let mut uses = step.depends_on.clone();
            if let Some(live) = observed.get(&step.id) {
                uses.extend(handler(step.id.kind).live_dependencies(live, observed));
            }
            (step.id.clone(), uses)
        })
        .collect();
    let deletes: Vec<ResourceId> = steps
        .iter()
        .filter(|s| s.action == Action::Delete)
        .map(|s| s.id.clone())
        .collect();
    for step in steps.iter_mut() {
        let mut after: Vec<ResourceId> = match step.action {
            Action::Delete => uses
                .iter()
                .filter(|(other, uses)| *other != &step.id && uses.contains(&step.id))
                .map(|(other, _)| other.clone())
                .collect(),
            Action::Retain => vec![],
            _ => {
                let mut after: Vec<ResourceId> = step
                    .depends_on
                    .iter()
                    .filter(|id| in_plan.contains(id))
                    .cloned()
                    .collect();
                if handler(step.id.kind).about().creates_after_deletes {
                    after.extend(
                        deletes
                            .iter()
                            .filter(|id| id.kind == step.id.kind && *id != &step.id)
                            .cloned(),
                    );
                }
                after
            }
        };
        after.sort();
        after.dedup();
        step.after = after;
    }
}
