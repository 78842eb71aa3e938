//! Runs a plan: every step starts as soon as the steps it needs have finished, side by side;
//! each waits for its resource to be ready (or gone) with progress. A failed step stops only
//! what depends on it; an interrupt stops new steps from starting and lets running ones finish.

mod bake;
mod execute;
mod roll;
mod wait;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::watch;

use crate::aws::{Aws, AwsError};
use crate::plan::observed::{Observed, Outputs};
use crate::plan::{Action, Plan};
use crate::render::progress::Progress;
use crate::stack::Desired;
use crate::stack::naming::Names;
use crate::stack::natural_dependencies;
use crate::stack::spec::{Kind, ResourceId};

/// What is known of a live resource while applying: its AWS id and outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub physical_id: String,
    pub outputs: Outputs,
    /// Created by this run.
    pub fresh: bool,
}

pub type Ledger = BTreeMap<ResourceId, Live>;

#[derive(Debug, Clone)]
pub struct Options {
    /// How often a waiter polls. Steady, not exponential: readiness is noticed within one interval.
    pub poll_interval: Duration,
    /// The final snapshot to leave when deleting the database; None skips it.
    pub final_snapshot: Option<String>,
}

/// Everything a step needs besides its own plan entry.
pub struct Context<'a> {
    pub aws: &'a Aws,
    pub desired: &'a Desired,
    pub observed: &'a Observed,
    pub progress: Progress,
    pub options: Options,
}

impl Context<'_> {
    fn names(&self) -> Names {
        self.desired.names()
    }

    fn vpc_id(&self) -> &str {
        &self.desired.environment.vpc_id
    }
}

/// How a run ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub done: Vec<(ResourceId, Action)>,
    pub failed: Vec<(ResourceId, AwsError)>,
    /// Steps not started because something they need failed, or because of an interrupt.
    pub not_started: Vec<ResourceId>,
    pub interrupted: bool,
    /// The live resources after the run.
    pub ledger: Ledger,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.not_started.is_empty() && !self.interrupted
    }
}

/// What each step must wait for: creates and updates wait for what they depend on; a delete
/// waits for every step of a resource that depends on the deleted one.
fn prerequisites(plan: &Plan, names: &Names) -> BTreeMap<ResourceId, Vec<ResourceId>> {
    let in_plan: BTreeSet<&ResourceId> = plan.steps.iter().map(|s| &s.id).collect();
    plan.steps
        .iter()
        .map(|step| {
            let after: Vec<ResourceId> = if step.action == Action::Delete {
                plan.steps
                    .iter()
                    .filter(|other| natural_dependencies(&other.id, names).contains(&step.id))
                    .map(|other| other.id.clone())
                    .collect()
            } else {
                let mut after: Vec<ResourceId> = step
                    .depends_on
                    .iter()
                    .filter(|id| in_plan.contains(id))
                    .cloned()
                    .collect();
                // A group allows one target tracking policy per metric (and one name per
                // action): a renamed one is created only once its old self is gone.
                if matches!(step.id.kind, Kind::ScalingPolicy | Kind::ScheduledAction) {
                    after.extend(
                        plan.steps
                            .iter()
                            .filter(|other| {
                                other.id.kind == step.id.kind && other.action == Action::Delete
                            })
                            .map(|other| other.id.clone()),
                    );
                }
                after
            };
            (step.id.clone(), after)
        })
        .collect()
}

/// Run `plan`. `interrupt` turning true stops new steps from starting.
pub async fn run(
    context: &Context<'_>,
    plan: &Plan,
    mut interrupt: watch::Receiver<bool>,
) -> Outcome {
    let names = context.names();
    let after = prerequisites(plan, &names);
    let mut outcome = Outcome::default();
    for resource in &context.observed.resources {
        outcome.ledger.insert(
            resource.id.clone(),
            Live {
                physical_id: resource.physical_id.clone(),
                outputs: resource.outputs.clone(),
                fresh: false,
            },
        );
    }
    let mut finished: BTreeSet<ResourceId> = BTreeSet::new();
    let mut blocked: BTreeSet<ResourceId> = BTreeSet::new();
    let mut started: BTreeSet<ResourceId> = BTreeSet::new();
    let mut running = FuturesUnordered::new();

    loop {
        if !outcome.interrupted {
            for step in &plan.steps {
                if started.contains(&step.id) || blocked.contains(&step.id) {
                    continue;
                }
                let needs = &after[&step.id];
                if needs.iter().any(|id| blocked.contains(id)) {
                    blocked.insert(step.id.clone());
                    continue;
                }
                if !needs.iter().all(|id| finished.contains(id)) {
                    continue;
                }
                started.insert(step.id.clone());
                let ledger = outcome.ledger.clone();
                running.push(async move {
                    let begun = Instant::now();
                    let result = execute::step(context, step, &ledger).await;
                    (step, result, begun.elapsed())
                });
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some((step, result, elapsed)) = running.next() => {
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
                        context.progress.finish(&step.id, &format!("failed: {first}"), false);
                        blocked.insert(step.id.clone());
                        outcome.failed.push((step.id.clone(), error));
                    }
                }
            }
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

fn done_text(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::None | Action::Retain => "unchanged",
    }
}

pub fn duration_text(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{:.1}s", elapsed.as_secs_f64())
    }
}
