//! Runs a plan: every step starts as soon as the steps it waits for have finished (or, for what
//! is usable once created, exist), side by side; each waits for its resource to be ready (or
//! gone) with progress. A failed step stops only what waits for it; an interrupt stops new steps
//! from starting and lets running ones finish. The engine names no resource kind: it asks each
//! kind's handler.

mod execute;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::watch;

use crate::aws::{Aws, AwsError};
use crate::ids::ResourceId;
use crate::ids::names::Names;
use crate::plan::{Action, Plan, Step};
use crate::render::progress::Progress;
use crate::resources::observed::Observed;
use crate::resources::wait::duration_text;
use crate::resources::{Handler, Ledger, Live, Resource, Scope, handler_in};

pub use crate::resources::Options;

/// What is live before a run: the observed resources' ids and outputs.
pub fn ledger_of(observed: &Observed) -> Ledger {
    observed
        .resources
        .iter()
        .map(|resource| (resource.id.clone(), Live::of(resource)))
        .collect()
}

/// Everything the steps of a run share.
pub struct Context<'a> {
    pub aws: &'a Aws,
    /// The resource kinds (the registry; tests give in-memory ones).
    pub handlers: &'a [&'a dyn Handler],
    pub names: &'a Names,
    pub vpc_id: &'a str,
    /// What the plan was made against.
    pub observed: &'a Observed,
    pub progress: Progress,
    pub options: Options,
}

impl Context<'_> {
    fn scope(&self) -> Scope<'_> {
        Scope::new(self.aws, self.names, self.vpc_id)
    }

    fn handler(&self, id: &ResourceId) -> &dyn Handler {
        handler_in(self.handlers, id.kind)
    }
}

/// How a run ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub done: Vec<(ResourceId, Action)>,
    pub failed: Vec<(ResourceId, AwsError)>,
    /// Steps not started because something they wait for failed, or because of an interrupt.
    pub not_started: Vec<ResourceId>,
    pub interrupted: bool,
    /// The live resources after the run.
    pub ledger: Ledger,
    /// The resources this run (re)created.
    pub fresh: BTreeSet<ResourceId>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.not_started.is_empty() && !self.interrupted
    }
}

/// Apply `plan`, made for the `desired` resources. `interrupt` turning true stops new steps
/// from starting.
pub async fn apply(
    context: &Context<'_>,
    desired: &[Resource],
    plan: &Plan,
    interrupt: watch::Receiver<bool>,
) -> Outcome {
    run(context, desired, plan, interrupt).await
}

/// Carry out a destroy's plan (deletes only: nothing is desired).
pub async fn destroy(
    context: &Context<'_>,
    plan: &Plan,
    interrupt: watch::Receiver<bool>,
) -> Outcome {
    run(context, &[], plan, interrupt).await
}

/// What a step waits for before it starts: another step to finish, or only for its resource to
/// exist (a kind usable once created: see [`crate::resources::About::usable_once_created`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need {
    Finished(ResourceId),
    Exists(ResourceId),
}

impl Need {
    fn id(&self) -> &ResourceId {
        match self {
            Need::Finished(id) | Need::Exists(id) => id,
        }
    }
}

/// What each step waits for: the steps the plan puts before it (a step the plan does not hold is
/// nothing to wait for); a create or update needs only the existence of what is usable once
/// created.
fn prerequisites(context: &Context<'_>, plan: &Plan) -> BTreeMap<ResourceId, Vec<Need>> {
    let in_plan: BTreeSet<&ResourceId> = plan.steps.iter().map(|s| &s.id).collect();
    plan.steps
        .iter()
        .map(|step| {
            let needs = step
                .after
                .iter()
                .filter(|id| in_plan.contains(id))
                .map(|id| {
                    let early = step.action != Action::Delete
                        && context.handler(id).about().usable_once_created;
                    if early {
                        Need::Exists(id.clone())
                    } else {
                        Need::Finished(id.clone())
                    }
                })
                .collect();
            (step.id.clone(), needs)
        })
        .collect()
}

/// The AWS ids of resources that exist before their steps finish.
#[derive(Clone)]
struct Announced {
    ids: watch::Sender<BTreeMap<ResourceId, String>>,
}

impl Announced {
    fn new() -> Self {
        Announced {
            ids: watch::Sender::new(BTreeMap::new()),
        }
    }

    fn announce(&self, id: &ResourceId, physical_id: &str) {
        self.ids.send_modify(|ids| {
            ids.insert(id.clone(), physical_id.to_string());
        });
    }

    fn get(&self, id: &ResourceId) -> Option<String> {
        self.ids.borrow().get(id).cloned()
    }
}

async fn run(
    context: &Context<'_>,
    desired: &[Resource],
    plan: &Plan,
    mut interrupt: watch::Receiver<bool>,
) -> Outcome {
    let needs_of = prerequisites(context, plan);
    let mut outcome = Outcome {
        ledger: ledger_of(context.observed),
        ..Outcome::default()
    };
    // What exists from the start: live resources the plan neither creates nor deletes.
    let existing: BTreeSet<ResourceId> = plan
        .steps
        .iter()
        .filter(|s| !s.action.creates() && s.action != Action::Delete)
        .filter(|s| outcome.ledger.contains_key(&s.id))
        .map(|s| s.id.clone())
        .collect();
    let mut finished: BTreeSet<ResourceId> = BTreeSet::new();
    let mut blocked: BTreeSet<ResourceId> = BTreeSet::new();
    let mut started: BTreeSet<ResourceId> = BTreeSet::new();
    let announced = Announced::new();
    let mut announcements = announced.ids.subscribe();
    let mut running = FuturesUnordered::new();
    let desired_of = |id: &ResourceId| desired.iter().find(|r| &r.id == id);

    loop {
        if !outcome.interrupted {
            for step in &plan.steps {
                if started.contains(&step.id) || blocked.contains(&step.id) {
                    continue;
                }
                let needs = &needs_of[&step.id];
                if needs.iter().any(|need| blocked.contains(need.id())) {
                    blocked.insert(step.id.clone());
                    continue;
                }
                let met = |need: &Need| match need {
                    Need::Finished(id) => finished.contains(id),
                    Need::Exists(id) => {
                        finished.contains(id)
                            || existing.contains(id)
                            || announced.get(id).is_some()
                    }
                };
                if !needs.iter().all(met) {
                    continue;
                }
                started.insert(step.id.clone());
                let mut ledger = outcome.ledger.clone();
                for need in needs {
                    if let Need::Exists(id) = need
                        && !finished.contains(id)
                        && !existing.contains(id)
                        && let Some(physical_id) = announced.get(id)
                    {
                        ledger.insert(id.clone(), Live::named(physical_id));
                    }
                }
                let fresh = outcome.fresh.clone();
                let announced = announced.clone();
                let resource = desired_of(&step.id);
                running.push(async move {
                    let begun = Instant::now();
                    let announce = |physical_id: &str| announced.announce(&step.id, physical_id);
                    let work = execute::Work {
                        step,
                        resource,
                        ledger: &ledger,
                        fresh: &fresh,
                        announce: &announce,
                    };
                    let result = execute::step(context, work).await;
                    (step, result, begun.elapsed())
                });
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some((step, result, elapsed)) = running.next() => {
                finish(context, &mut outcome, step, result, elapsed, &mut finished, &mut blocked);
            }
            // A resource came to exist: what waits only for that may start.
            Ok(()) = announcements.changed() => {}
            changed = interrupt.changed(), if !outcome.interrupted => {
                if changed.is_err() || *interrupt.borrow() {
                    outcome.interrupted = true;
                    context.progress.note(
                        "interrupted: starting nothing new, letting running steps finish (interrupt again to quit at once)",
                    );
                }
            }
        }
    }
    for step in &plan.steps {
        if !started.contains(&step.id) && step.action != Action::Retain {
            outcome.not_started.push(step.id.clone());
        }
    }
    outcome
}

/// Record how a step ended.
fn finish(
    context: &Context<'_>,
    outcome: &mut Outcome,
    step: &Step,
    result: Result<Option<Live>, AwsError>,
    elapsed: Duration,
    finished: &mut BTreeSet<ResourceId>,
    blocked: &mut BTreeSet<ResourceId>,
) {
    match result {
        Ok(live) => {
            if step.action.is_change() {
                context.progress.finish(
                    &step.id,
                    &format!("{} ({})", done_text(step.action), duration_text(elapsed)),
                    true,
                );
                outcome.done.push((step.id.clone(), step.action));
            }
            if step.action.creates() {
                outcome.fresh.insert(step.id.clone());
            }
            match live {
                Some(live) => outcome.ledger.insert(step.id.clone(), live),
                None => outcome.ledger.remove(&step.id),
            };
            finished.insert(step.id.clone());
        }
        Err(error) => {
            // The whole error (console output and all) is reported at the end.
            let text = error.to_string();
            let first = text.lines().next().unwrap_or_default();
            context
                .progress
                .finish(&step.id, &format!("failed: {first}"), false);
            blocked.insert(step.id.clone());
            outcome.failed.push((step.id.clone(), error));
        }
    }
}

fn done_text(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::None | Action::Retain => "unchanged",
    }
}

#[cfg(test)]
mod tests;
