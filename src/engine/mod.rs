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
use crate::plan::observed::{Observed, ObservedResource, Outputs};
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

/// What is live before a run: the observed resources' ids and outputs.
pub fn ledger_of(observed: &Observed) -> Ledger {
    observed
        .resources
        .iter()
        .map(|resource| (resource.id.clone(), Live::of(resource)))
        .collect()
}

impl Live {
    pub fn of(resource: &ObservedResource) -> Live {
        Live {
            physical_id: resource.physical_id.clone(),
            outputs: resource.outputs.clone(),
            fresh: false,
        }
    }
}

/// Security group ids known before their steps finish. A group exists, and its id can be used,
/// as soon as it is created, before its ingress rules are set. So the groups of every tier are
/// created side by side, each waits here only for the ids its rules name, and the database, the
/// load balancer or the launch template start as soon as their group exists. `None`: the group's
/// step failed before creating it.
#[derive(Clone)]
pub struct Published {
    ids: watch::Sender<BTreeMap<String, Option<String>>>,
    /// The groups the plan creates: only these are worth waiting for.
    expected: BTreeSet<String>,
}

impl Published {
    /// Known from the start: the live groups the plan keeps. To come: the groups it creates.
    fn new(ledger: &Ledger, plan: &Plan) -> Published {
        let action = |name: &str| {
            plan.steps
                .iter()
                .find(|step| step.id.kind == Kind::SecurityGroup && step.id.name == name)
                .map(|step| step.action)
        };
        let coming = |name: &str| matches!(action(name), Some(Action::Create | Action::Replace));
        let known: BTreeMap<String, Option<String>> = ledger
            .iter()
            .filter(|(id, _)| id.kind == Kind::SecurityGroup && !coming(&id.name))
            .filter(|(id, _)| action(&id.name) != Some(Action::Delete))
            .map(|(id, live)| (id.name.clone(), Some(live.physical_id.clone())))
            .collect();
        let expected: BTreeSet<String> = plan
            .steps
            .iter()
            .filter(|step| step.id.kind == Kind::SecurityGroup && coming(&step.id.name))
            .map(|step| step.id.name.clone())
            .collect();
        Published {
            ids: watch::Sender::new(known),
            expected,
        }
    }

    /// The group `name` exists with this id.
    pub fn publish(&self, name: &str, group_id: &str) {
        self.ids.send_modify(|ids| {
            ids.insert(name.to_string(), Some(group_id.to_string()));
        });
    }

    /// The step of group `name` failed: whoever waits for it stops waiting.
    fn failed(&self, name: &str) {
        self.ids.send_if_modified(|ids| match ids.get(name) {
            Some(Some(_)) => false,
            _ => {
                ids.insert(name.to_string(), None);
                true
            }
        });
    }

    fn get(&self, name: &str) -> Option<String> {
        self.ids.borrow().get(name).cloned().flatten()
    }

    /// The ids of the groups `names`, once each of them exists.
    pub async fn wait_for(
        &self,
        names: &BTreeSet<String>,
        user: &ResourceId,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        let mut receiver = self.ids.subscribe();
        let ids = receiver
            .wait_for(|ids| {
                names
                    .iter()
                    .all(|name| ids.contains_key(name) || !self.expected.contains(name))
            })
            .await
            .map_err(|_| AwsError::other(format!("configure {user}"), "the run ended"))?;
        names
            .iter()
            .map(|name| match ids.get(name).cloned().flatten() {
                Some(id) => Ok((name.clone(), id)),
                None => Err(AwsError::other(
                    format!("configure {user}"),
                    if self.expected.contains(name) {
                        format!("security group {name} could not be created")
                    } else {
                        format!("security group {name} does not exist")
                    },
                )),
            })
            .collect()
    }
}

/// What a step waits for before it starts: a resource's step to finish, or only for a security
/// group to exist (see [`Published`]).
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

/// What each step must wait for: creates and updates wait for what they depend on, but for a new
/// security group only until it exists (a group's own step waits inside for the groups its rules
/// name); a delete waits for every step of a resource that depends on the deleted one.
fn prerequisites(plan: &Plan, names: &Names) -> BTreeMap<ResourceId, Vec<Need>> {
    let in_plan: BTreeSet<&ResourceId> = plan.steps.iter().map(|s| &s.id).collect();
    let created: BTreeSet<&ResourceId> = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Create)
        .map(|s| &s.id)
        .collect();
    plan.steps
        .iter()
        .map(|step| {
            let after: Vec<Need> = if step.action == Action::Delete {
                plan.steps
                    .iter()
                    .filter(|other| {
                        natural_dependencies(&other.id, names).contains(&step.id)
                            // A security group goes once the rules that name it are updated
                            // away (a dropped node group's, named by the data tier's rules).
                            || (step.id.kind == Kind::SecurityGroup
                                && other.id.kind == Kind::SecurityGroup
                                && other.action == Action::Update)
                    })
                    .map(|other| Need::Finished(other.id.clone()))
                    .collect()
            } else {
                let mut after: Vec<Need> = step
                    .depends_on
                    .iter()
                    .filter(|id| in_plan.contains(id))
                    .filter_map(|id| match (id.kind, step.id.kind) {
                        (Kind::SecurityGroup, Kind::SecurityGroup) => None,
                        (Kind::SecurityGroup, _) if created.contains(id) => {
                            Some(Need::Exists(id.clone()))
                        }
                        _ => Some(Need::Finished(id.clone())),
                    })
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
                            .map(|other| Need::Finished(other.id.clone())),
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
    let mut outcome = Outcome {
        ledger: ledger_of(context.observed),
        ..Outcome::default()
    };
    let mut finished: BTreeSet<ResourceId> = BTreeSet::new();
    let mut blocked: BTreeSet<ResourceId> = BTreeSet::new();
    let mut started: BTreeSet<ResourceId> = BTreeSet::new();
    let published = Published::new(&outcome.ledger, plan);
    let mut publications = published.ids.subscribe();
    let mut running = FuturesUnordered::new();

    loop {
        if !outcome.interrupted {
            for step in &plan.steps {
                if started.contains(&step.id) || blocked.contains(&step.id) {
                    continue;
                }
                let needs = &after[&step.id];
                if needs.iter().any(|need| blocked.contains(need.id())) {
                    blocked.insert(step.id.clone());
                    continue;
                }
                let met = |need: &Need| match need {
                    Need::Finished(id) => finished.contains(id),
                    Need::Exists(id) => finished.contains(id) || published.get(&id.name).is_some(),
                };
                if !needs.iter().all(met) {
                    continue;
                }
                started.insert(step.id.clone());
                let mut ledger = outcome.ledger.clone();
                for need in needs {
                    if let Need::Exists(id) = need
                        && !ledger.contains_key(id)
                        && let Some(group) = published.get(&id.name)
                    {
                        ledger.insert(
                            id.clone(),
                            Live {
                                physical_id: group,
                                ..Live::default()
                            },
                        );
                    }
                }
                let published = &published;
                running.push(async move {
                    let begun = Instant::now();
                    let result = execute::step(context, step, &ledger, published).await;
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
                        if step.id.kind == Kind::SecurityGroup {
                            published.failed(&step.id.name);
                        }
                        outcome.failed.push((step.id.clone(), error));
                    }
                }
            }
            // A group came to exist: what waits only for that may start.
            Ok(()) = publications.changed() => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plan;
    use crate::plan::tests::desired;

    #[test]
    fn new_security_groups_start_together_and_their_users_wait_only_for_them_to_exist() {
        let desired = desired();
        let names = desired.names();
        let plan = plan(&desired, &Observed::default()).unwrap();
        let after = prerequisites(&plan, &names);
        let group = |tier| ResourceId::new(Kind::SecurityGroup, names.security_group(tier));
        use crate::stack::naming::Tier;
        for tier in [Tier::Lb, Tier::Nodes, Tier::Db, Tier::Cache] {
            assert_eq!(after[&group(tier)], vec![], "{tier:?}");
        }
        let database = &after[&ResourceId::new(Kind::Database, names.database())];
        assert!(
            database.contains(&Need::Exists(group(Tier::Db))),
            "{database:?}"
        );
        assert!(
            database.contains(&Need::Finished(ResourceId::new(
                Kind::DbSubnetGroup,
                names.db_subnet_group()
            ))),
            "{database:?}"
        );
        let template = &after[&ResourceId::new(Kind::LaunchTemplate, names.launch_template())];
        assert!(
            template.contains(&Need::Exists(group(Tier::Nodes))),
            "{template:?}"
        );
        assert!(
            template.contains(&Need::Finished(ResourceId::new(
                Kind::Database,
                names.database()
            ))),
            "{template:?}"
        );
    }

    #[test]
    fn a_dropped_groups_security_group_goes_after_the_rules_naming_it_are_updated() {
        let step = |kind: Kind, name: &str, action: Action| {
            crate::plan::Step::bare(ResourceId::new(kind, name), action, None)
        };
        let plan = Plan {
            stack: "shop".into(),
            steps: vec![
                step(Kind::AutoScalingGroup, "shop-worker", Action::Delete),
                step(Kind::LaunchTemplate, "shop-worker", Action::Delete),
                step(Kind::SecurityGroup, "shop-db", Action::Update),
                step(Kind::SecurityGroup, "shop-worker", Action::Delete),
            ],
        };
        // The profile no longer names the worker: its order comes from the names alone.
        let after = prerequisites(&plan, &Names::new("shop"));
        let needs = &after[&ResourceId::new(Kind::SecurityGroup, "shop-worker")];
        for first in [
            ResourceId::new(Kind::SecurityGroup, "shop-db"),
            ResourceId::new(Kind::LaunchTemplate, "shop-worker"),
        ] {
            assert!(
                needs.contains(&Need::Finished(first.clone())),
                "{first}: {needs:?}"
            );
        }
        let template = &after[&ResourceId::new(Kind::LaunchTemplate, "shop-worker")];
        assert_eq!(
            template,
            &vec![Need::Finished(ResourceId::new(
                Kind::AutoScalingGroup,
                "shop-worker"
            ))]
        );
    }

    #[tokio::test]
    async fn a_group_waits_for_the_groups_it_names_and_learns_of_a_failure() {
        let desired = desired();
        let names = desired.names();
        let plan = plan(&desired, &Observed::default()).unwrap();
        let published = Published::new(&Ledger::new(), &plan);
        let user = ResourceId::new(
            Kind::SecurityGroup,
            names.security_group(crate::stack::naming::Tier::Db),
        );
        let lb = names.security_group(crate::stack::naming::Tier::Lb);
        let nodes = names.security_group(crate::stack::naming::Tier::Nodes);

        // Waits until the group is created.
        let waiting = {
            let published = published.clone();
            let (user, nodes) = (user.clone(), nodes.clone());
            tokio::spawn(async move { published.wait_for(&BTreeSet::from([nodes]), &user).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        published.publish(&nodes, "sg-1");
        let ids = waiting.await.unwrap().unwrap();
        assert_eq!(ids[&nodes], "sg-1");

        // A failed group ends the wait with an error naming it.
        published.failed(&lb);
        let error = published
            .wait_for(&BTreeSet::from([lb.clone()]), &user)
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("security group {lb} could not be created")),
            "{error}"
        );

        // A group the plan does not create and nobody saw is not waited for.
        let error = published
            .wait_for(&BTreeSet::from(["elsewhere".to_string()]), &user)
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("security group elsewhere does not exist"),
            "{error}"
        );
    }
}
