//! The engine's own logic against an in-memory cloud behind the handler trait: scheduling by the
//! plan's order, a failure blocking only what waits for it, interrupts, retries of "not visible
//! yet", what exists early, and deletes after what uses them. No AWS, no emulator: seconds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::json;
use tokio::sync::{Notify, watch};

use super::*;
use crate::ids::Kind;
use crate::resources::attributes::{Attribute, Change, Changes};
use crate::resources::observed::{ObservedResource, Outputs, Status};
use crate::resources::{About, Kept, NoteContext, PlanScope, StepContext};

const PLAIN: Kind = Kind::new("test-plain", "plain resource");
const EARLY: Kind = Kind::new("test-early", "early resource");

/// The in-memory account: what exists, what happened, and what is scripted to happen.
#[derive(Default)]
struct Cloud {
    live: Mutex<BTreeSet<ResourceId>>,
    log: Mutex<Vec<String>>,
    /// Errors the next calls on a resource get, by name, one per call.
    failures: Mutex<BTreeMap<String, VecDeque<AwsError>>>,
    /// Creates that wait until told to go on, by name.
    gates: Mutex<BTreeMap<String, Arc<Notify>>>,
    /// Creates that open another's gate once they run, by name: (opener, opened).
    opens: Mutex<BTreeMap<String, String>>,
}

impl Cloud {
    fn note(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn fail(&self, name: &str, error: AwsError) {
        self.failures
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_default()
            .push_back(error);
    }

    fn next_failure(&self, name: &str) -> Option<AwsError> {
        self.failures
            .lock()
            .unwrap()
            .get_mut(name)
            .and_then(VecDeque::pop_front)
    }

    fn gate(&self, name: &str) -> Arc<Notify> {
        self.gates
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }
}

/// A resource kind whose resources live in a [`Cloud`].
struct Memory {
    kind: Kind,
    early: bool,
    cloud: Arc<Cloud>,
}

impl Memory {
    async fn act(&self, verb: &str, context: &StepContext<'_>, name: &str) -> Result<(), AwsError> {
        self.cloud.note(format!("{verb} {name}"));
        if let Some(stack) = context.tags.get(crate::ids::tags::TAG_STACK) {
            self.cloud.note(format!("{verb} {name} tagged for {stack}"));
        }
        if let Some(error) = self.cloud.next_failure(name) {
            return Err(error);
        }
        if verb == "create" {
            (context.announce)(&format!("p-{name}"));
            let opened = self.cloud.opens.lock().unwrap().get(name).cloned();
            if let Some(other) = opened {
                self.cloud.gate(&other).notify_one();
            }
            let gated = self.cloud.gates.lock().unwrap().get(name).cloned();
            if let Some(gate) = gated {
                gate.notified().await;
            }
            self.cloud.live.lock().unwrap().insert(context.id.clone());
        }
        if verb == "delete" {
            self.cloud.live.lock().unwrap().remove(context.id);
        }
        self.cloud.note(format!("{verb}d {name}"));
        Ok(())
    }
}

impl Handler for Memory {
    fn kind(&self) -> Kind {
        self.kind
    }

    fn about(&self) -> About {
        About {
            usable_once_created: self.early,
            ..About::new("in-memory resource")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        _known: crate::resources::Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        vec![]
    }

    fn keeps_outputs(&self, _changes: &[Change]) -> bool {
        true
    }

    fn disruption(&self, _change: &Change) -> Option<&'static str> {
        None
    }

    fn note(&self, context: &NoteContext<'_>) -> Option<String> {
        context.note.map(str::to_string)
    }

    fn quota_use(&self, _resource: &Resource) -> Vec<crate::resources::quota::QuotaUse> {
        Vec::new()
    }

    fn leftover(
        &self,
        _live: &ObservedResource,
        _plan: &PlanScope<'_>,
    ) -> Option<(Action, Option<String>)> {
        None
    }

    fn live_dependencies(&self, _live: &ObservedResource, _observed: &Observed) -> Vec<ResourceId> {
        vec![]
    }

    fn observe<'a>(
        &'a self,
        _scope: Scope<'a>,
    ) -> BoxFuture<'a, Result<Vec<ObservedResource>, AwsError>> {
        Box::pin(async move {
            Ok(self
                .cloud
                .live
                .lock()
                .unwrap()
                .iter()
                .filter(|id| id.kind == self.kind)
                .map(|id| ObservedResource {
                    id: id.clone(),
                    physical_id: format!("p-{}", id.name),
                    tags: BTreeMap::new(),
                    attributes: Default::default(),
                    status: Status::Ready,
                    outputs: Outputs::default(),
                })
                .collect())
        })
    }

    fn refine<'a>(
        &'a self,
        _scope: Scope<'a>,
        _observed: &'a mut Observed,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async { Ok(()) })
    }

    fn observe_one<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a ResourceId,
    ) -> BoxFuture<'a, Result<Option<ObservedResource>, AwsError>> {
        Box::pin(async move { Ok(self.observe(scope).await?.into_iter().find(|r| &r.id == id)) })
    }

    fn scan<'a>(
        &'a self,
        _scope: Scope<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AwsError>> {
        Box::pin(async { Ok(vec![]) })
    }

    fn create<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        resource: &'a Resource,
    ) -> BoxFuture<'a, Result<Live, AwsError>> {
        Box::pin(async move {
            self.act("create", context, &resource.id.name).await?;
            Ok(Live::named(format!("p-{}", resource.id.name)))
        })
    }

    fn update<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        resource: &'a Resource,
        _changes: Changes<'a>,
        live: Live,
    ) -> BoxFuture<'a, Result<Live, AwsError>> {
        Box::pin(async move {
            self.act("update", context, &resource.id.name).await?;
            Ok(live)
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        _live: Option<&'a Live>,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move { self.act("delete", context, &context.id.name).await })
    }

    fn tag<'a>(
        &'a self,
        _context: &'a StepContext<'a>,
        _physical_id: &'a str,
        _key: &'a str,
        _value: &'a str,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async { Ok(()) })
    }

    fn outputs(&self, _id: &ResourceId, _live: &Live) -> Vec<(&'static str, String)> {
        vec![]
    }

    fn kept<'a>(&'a self, _scope: Scope<'a>) -> BoxFuture<'a, Result<Kept, AwsError>> {
        Box::pin(async { Ok(None) })
    }

    fn delete_note(&self, _options: &Options) -> Option<String> {
        None
    }

    fn deleting_text(&self, _options: &Options) -> String {
        "deleting".into()
    }

    fn not_visible_yet(&self, error: &AwsError) -> bool {
        error.is("NotVisibleYet")
    }
}

/// The in-memory cloud, its two kinds, and a connection that is never used.
struct World {
    cloud: Arc<Cloud>,
    plain: Memory,
    early: Memory,
    aws: Aws,
    names: Names,
}

impl World {
    fn new() -> Self {
        let cloud = Arc::new(Cloud::default());
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        World {
            plain: Memory {
                kind: PLAIN,
                early: false,
                cloud: cloud.clone(),
            },
            early: Memory {
                kind: EARLY,
                early: true,
                cloud: cloud.clone(),
            },
            cloud,
            aws: Aws::from_config(&config).unwrap(),
            names: Names::new("test"),
        }
    }

    async fn run(
        &self,
        desired: &[Resource],
        plan: &Plan,
        interrupt: watch::Receiver<bool>,
    ) -> Outcome {
        self.run_against(desired, plan, &Observed::default(), interrupt)
            .await
    }

    async fn run_against(
        &self,
        desired: &[Resource],
        plan: &Plan,
        observed: &Observed,
        interrupt: watch::Receiver<bool>,
    ) -> Outcome {
        let handlers: Vec<&dyn Handler> = vec![&self.plain, &self.early];
        let context = Context {
            aws: &self.aws,
            handlers: &handlers,
            names: &self.names,
            vpc_id: "vpc-test",
            observed,
            progress: Progress::quiet(),
            options: Options {
                poll_interval: Duration::from_millis(2),
                final_snapshot: None,
                visibility_timeout: Duration::from_secs(2),
                keep_failed_builder: false,
            },
        };
        tokio::time::timeout(
            Duration::from_secs(10),
            apply(&context, desired, plan, interrupt),
        )
        .await
        .expect("the run ends")
    }
}

fn resource(kind: Kind, name: &str, needs: &[&str]) -> Resource {
    Resource {
        id: ResourceId::new(kind, name),
        component: "test".into(),
        group: None,
        spec: json!({}),
        depends_on: needs.iter().map(|n| ResourceId::new(PLAIN, *n)).collect(),
    }
}

/// Creates of `resources`, each after what it depends on.
fn creates(resources: &[Resource]) -> Plan {
    Plan {
        stack: "test".into(),
        steps: resources
            .iter()
            .map(|r| Step {
                depends_on: r.depends_on.clone(),
                after: r.depends_on.clone(),
                ..Step::bare(r.id.clone(), Action::Create, None)
            })
            .collect(),
    }
}

fn no_interrupt() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    std::mem::forget(sender);
    receiver
}

fn names(ids: &[ResourceId]) -> Vec<&str> {
    ids.iter().map(|id| id.name.as_str()).collect()
}

#[tokio::test]
async fn steps_run_after_what_they_depend_on() {
    let world = World::new();
    let desired = vec![
        resource(PLAIN, "group", &["template"]),
        resource(PLAIN, "template", &["network"]),
        resource(PLAIN, "network", &[]),
    ];
    let outcome = world
        .run(&desired, &creates(&desired), no_interrupt())
        .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let log = world.cloud.log();
    let at = |line: &str| log.iter().position(|l| l == line).unwrap();
    assert!(at("created network") < at("create template"), "{log:?}");
    assert!(at("created template") < at("create group"), "{log:?}");
    assert_eq!(outcome.fresh.len(), 3);
    assert_eq!(outcome.ledger[&desired[0].id].physical_id, "p-group");
}

#[tokio::test]
async fn a_failed_step_blocks_its_dependents_only() {
    let world = World::new();
    world.cloud.fail(
        "database",
        AwsError::other("create database", "InsufficientCapacity"),
    );
    let desired = vec![
        resource(PLAIN, "database", &[]),
        resource(PLAIN, "template", &["database"]),
        resource(PLAIN, "group", &["template"]),
        resource(PLAIN, "balancer", &[]),
    ];
    let outcome = world
        .run(&desired, &creates(&desired), no_interrupt())
        .await;
    assert!(!outcome.succeeded());
    assert_eq!(
        outcome
            .failed
            .iter()
            .map(|(id, _)| id.name.as_str())
            .collect::<Vec<_>>(),
        ["database"]
    );
    assert_eq!(names(&outcome.not_started), ["template", "group"]);
    assert_eq!(
        outcome
            .done
            .iter()
            .map(|(id, _)| id.name.as_str())
            .collect::<Vec<_>>(),
        ["balancer"]
    );
    // Nothing was tried twice: an error that is not "not visible yet" fails at once.
    let log = world.cloud.log();
    assert_eq!(log.iter().filter(|l| *l == "create database").count(), 1);
}

#[tokio::test]
async fn a_call_answered_not_visible_yet_is_tried_again_until_it_succeeds() {
    let world = World::new();
    for _ in 0..2 {
        world.cloud.fail(
            "group",
            AwsError::coded(
                "create group",
                "NotVisibleYet",
                "the launch template does not exist",
            ),
        );
    }
    let desired = vec![resource(PLAIN, "group", &[])];
    let outcome = world
        .run(&desired, &creates(&desired), no_interrupt())
        .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let log = world.cloud.log();
    assert_eq!(
        log.iter().filter(|l| *l == "create group").count(),
        3,
        "{log:?}"
    );
}

/// AWS's answers that disagree (a create "already exists" whose list shows nothing yet) are tried
/// again whatever codes the kind takes for "not visible yet".
#[tokio::test]
async fn an_error_marked_not_visible_yet_is_tried_again_whatever_the_kind() {
    let world = World::new();
    world.cloud.fail(
        "group",
        AwsError::not_visible_yet("create group", "exists but not listed yet"),
    );
    let desired = vec![resource(PLAIN, "group", &[])];
    let outcome = world
        .run(&desired, &creates(&desired), no_interrupt())
        .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let log = world.cloud.log();
    assert_eq!(
        log.iter().filter(|l| *l == "create group").count(),
        2,
        "{log:?}"
    );
}

#[tokio::test]
async fn not_visible_yet_for_longer_than_the_visibility_timeout_fails() {
    let world = World::new();
    for _ in 0..100_000 {
        world.cloud.fail(
            "group",
            AwsError::coded("create group", "NotVisibleYet", "still not there"),
        );
    }
    let desired = vec![resource(PLAIN, "group", &[])];
    let begun = std::time::Instant::now();
    let outcome = world
        .run(&desired, &creates(&desired), no_interrupt())
        .await;
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    assert!(outcome.failed[0].1.message.contains("still not there"));
    assert!(begun.elapsed() >= Duration::from_secs(2), "gave up early");
}

#[tokio::test]
async fn an_interrupt_starts_nothing_new_and_lets_running_steps_finish() {
    let world = World::new();
    let gate = world.cloud.gate("database");
    let desired = vec![
        resource(PLAIN, "database", &[]),
        resource(PLAIN, "template", &["database"]),
    ];
    let plan = creates(&desired);
    let (interrupt, receiver) = watch::channel(false);
    let cloud = world.cloud.clone();
    let (outcome, ()) = tokio::join!(world.run(&desired, &plan, receiver), async move {
        while !cloud.log().contains(&"create database".to_string()) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        interrupt.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.notify_one();
    });
    assert!(outcome.interrupted);
    assert_eq!(
        outcome
            .done
            .iter()
            .map(|(id, _)| id.name.as_str())
            .collect::<Vec<_>>(),
        ["database"],
        "the running step finished"
    );
    assert_eq!(names(&outcome.not_started), ["template"]);
    assert!(!world.cloud.log().contains(&"create template".to_string()));
}

#[tokio::test]
async fn what_is_usable_once_created_lets_its_dependents_start_before_its_step_ends() {
    let world = World::new();
    // The early resource's create waits until its dependent has run: only possible when the
    // dependent starts as soon as the early one exists.
    let _ = world.cloud.gate("group");
    world
        .cloud
        .opens
        .lock()
        .unwrap()
        .insert("database".into(), "group".into());
    let mut database = resource(PLAIN, "database", &[]);
    database.depends_on = vec![ResourceId::new(EARLY, "group")];
    let desired = vec![resource(EARLY, "group", &[]), database];
    let outcome = world
        .run(&desired, &creates(&desired), no_interrupt())
        .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let log = world.cloud.log();
    let at = |line: &str| log.iter().position(|l| l == line).unwrap();
    assert!(at("created database") < at("created group"), "{log:?}");
}

#[tokio::test]
async fn a_delete_waits_for_what_uses_it_and_a_failed_one_holds_back_only_what_it_uses() {
    let world = World::new();
    for name in ["group", "template", "network", "bucket"] {
        world
            .cloud
            .live
            .lock()
            .unwrap()
            .insert(ResourceId::new(PLAIN, name));
    }
    world.cloud.fail(
        "template",
        AwsError::other("delete template", "ResourceInUse"),
    );
    let id = |name: &str| ResourceId::new(PLAIN, name);
    let delete = |name: &str, after: &[&str]| Step {
        after: after.iter().map(|n| id(n)).collect(),
        ..Step::bare(id(name), Action::Delete, None)
    };
    let plan = Plan {
        stack: "test".into(),
        steps: vec![
            delete("network", &["template"]),
            delete("template", &["group"]),
            delete("group", &[]),
            delete("bucket", &[]),
        ],
    };
    let outcome = world.run(&[], &plan, no_interrupt()).await;
    let log = world.cloud.log();
    let at = |line: &str| log.iter().position(|l| l == line).unwrap();
    assert!(at("deleted group") < at("delete template"), "{log:?}");
    assert_eq!(names(&outcome.not_started), ["network"]);
    assert!(world.cloud.live.lock().unwrap().contains(&id("network")));
    assert!(!world.cloud.live.lock().unwrap().contains(&id("bucket")));
}

#[tokio::test]
async fn an_update_runs_its_planned_changes_with_the_tags_a_create_would_set() {
    let world = World::new();
    let desired = vec![resource(PLAIN, "role", &[])];
    let observed = Observed {
        resources: vec![ObservedResource {
            id: desired[0].id.clone(),
            physical_id: "p-role".into(),
            tags: BTreeMap::new(),
            attributes: Default::default(),
            status: Status::Ready,
            outputs: Outputs::default(),
        }],
    };
    let change = Change {
        attribute: "policy".into(),
        old: Some(json!("old")),
        new: Some(json!("new")),
        mode: crate::resources::attributes::Mode::InPlace,
    };
    let plan = Plan {
        stack: "test".into(),
        steps: vec![Step {
            changes: vec![change],
            ..Step::bare(desired[0].id.clone(), Action::Update, None)
        }],
    };
    let outcome = world
        .run_against(&desired, &plan, &observed, no_interrupt())
        .await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(
        world
            .cloud
            .log()
            .contains(&"update role tagged for test".to_string()),
        "{:?}",
        world.cloud.log()
    );
}

#[tokio::test]
async fn a_step_after_one_the_plan_does_not_hold_still_runs() {
    let world = World::new();
    let desired = vec![resource(PLAIN, "image", &[])];
    let plan = Plan {
        stack: "test".into(),
        steps: vec![Step {
            after: vec![ResourceId::new(PLAIN, "elsewhere")],
            ..Step::bare(desired[0].id.clone(), Action::Create, None)
        }],
    };
    let outcome = world.run(&desired, &plan, no_interrupt()).await;
    assert!(outcome.succeeded(), "{outcome:?}");
}
