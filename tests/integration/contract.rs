//! Every resource kind keeps the contract CloudFormation asks of its handlers: creating what
//! exists adopts it, what is read back matches the profile, deleting twice is harmless, and a
//! resource deleted out of band is planned as a create. Driven through deployer's own engine.

use std::collections::BTreeSet;
use std::time::Duration;

use deployer::aws::Aws;
use deployer::engine::{self, Context, Options};
use deployer::ids::{Kind, ResourceId};
use deployer::plan::{Action, Plan, Step, plan};
use deployer::profile::load::load;
use deployer::render::progress::Progress;
use deployer::resources::REGISTRY;
use deployer::resources::observed::Observed;
use deployer::stack::{Desired, build};

use crate::harness::{Project, sdk_config};

/// The reference stack with policies, schedules and a VPC of its own (two zones, one NAT
/// gateway): every kind the registry lists.
const POLICIES: &str = r#"
[network]
vpc = "create"
zones = 2
nat = "single"

[[scaling.target_tracking]]
name = "cpu"
metric = "cpu"
target = 60.0

[[scaling.scheduled]]
name = "nightly"
recurrence = "0 1 * * *"
min = 2
"#;

async fn connect() -> Aws {
    Aws::from_config(&sdk_config().await).unwrap()
}

/// The desired stack of the project's profile, and what is live.
async fn state(aws: &Aws, project: &Project) -> (Desired, Observed) {
    let path = project.path().join("profiles/test.toml");
    let loaded = load(path.to_str().unwrap()).unwrap();
    let (environment, problems) = deployer::commands::account::environment(&loaded, aws)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(problems.is_empty(), "{problems:?}");
    let environment = environment.unwrap();
    let desired = build(&loaded, &environment).unwrap();
    let observed = deployer::commands::observe(aws, &desired.names(), &environment.vpc_id)
        .await
        .unwrap();
    (desired, observed)
}

/// Run a one-step plan through the engine. Err with the failure when it does not succeed.
async fn one_step(
    aws: &Aws,
    project: &Project,
    id: &ResourceId,
    action: Action,
) -> Result<(), String> {
    let (desired, observed) = state(aws, project).await;
    let step = Step::bare(id.clone(), action, None);
    let names = desired.names();
    let context = Context {
        aws,
        handlers: REGISTRY,
        names: &names,
        vpc_id: &desired.environment.vpc_id,
        observed: &observed,
        progress: Progress::quiet(),
        options: Options {
            poll_interval: Duration::from_millis(100),
            ..Options::default()
        },
    };
    let (_keep, interrupt) = tokio::sync::watch::channel(false);
    let outcome = engine::apply(
        &context,
        &desired.resources,
        &Plan {
            stack: desired.stack.clone(),
            steps: vec![step],
        },
        interrupt,
    )
    .await;
    if outcome.succeeded() {
        Ok(())
    } else {
        Err(format!("{:?}", outcome.failed))
    }
}

fn action_of(plan: &Plan, id: &ResourceId) -> Option<Action> {
    plan.steps.iter().find(|s| &s.id == id).map(|s| s.action)
}

/// The engine's futures are deep in a debug build: run them with the stack a binary's main
/// thread has, not a test thread's.
#[test]
fn every_resource_kind_adopts_reads_back_deletes_twice_and_is_recreated() {
    std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_stack_size(32 << 20)
                .build()
                .unwrap()
                .block_on(contract())
        })
        .unwrap()
        .join()
        .unwrap();
}

async fn contract() {
    let aws = connect().await;
    let project = Project::new("contract", POLICIES);
    project.run(&["apply", "--yes"]).ok();
    let (desired, observed) = state(&aws, &project).await;
    // Every kind the registry lists is held to the contract: all but the ones only ever left
    // over by an interrupted run and the baked image (see bake.rs) are in this stack.
    let kinds: BTreeSet<Kind> = desired.resources.iter().map(|r| r.id.kind).collect();
    for handler in REGISTRY {
        let about = handler.about();
        let covered_elsewhere = about.only_left_over || about.artifact;
        assert_eq!(
            kinds.contains(&handler.kind()),
            !covered_elsewhere,
            "{} ({}) and the contract stack: {kinds:?}",
            handler.kind().key(),
            about.aws
        );
    }
    let count = |observed: &Observed, id: &ResourceId| {
        observed.resources.iter().filter(|r| &r.id == id).count()
    };

    // Create what exists: adopted, still exactly one, and it reads back as the profile says.
    for resource in &desired.resources {
        let id = &resource.id;
        let before = observed.get(id).map(|r| r.physical_id.clone());
        one_step(&aws, &project, id, Action::Create)
            .await
            .unwrap_or_else(|e| panic!("creating {id} again: {e}"));
        let (desired, now) = state(&aws, &project).await;
        assert_eq!(
            count(&now, id),
            1,
            "{id} after a second create; live: {:?}",
            now.resources
                .iter()
                .map(|r| r.id.to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            now.get(id).map(|r| r.physical_id.clone()),
            before,
            "{id} was replaced"
        );
        let plan = plan(&desired, &now).unwrap();
        assert_eq!(
            action_of(&plan, id),
            Some(Action::None),
            "{id} does not read back as the profile: {plan:#?}"
        );
    }

    // Delete, twice, in reverse dependency order: the second is a no-op, and the plan then
    // creates it again.
    for resource in desired.resources.iter().rev() {
        let id = &resource.id;
        for attempt in ["first", "second"] {
            one_step(&aws, &project, id, Action::Delete)
                .await
                .unwrap_or_else(|e| panic!("{attempt} delete of {id}: {e}"));
        }
        let (desired, now) = state(&aws, &project).await;
        assert_eq!(count(&now, id), 0, "{id} survived its deletion");
        let plan = plan(&desired, &now).unwrap();
        assert_eq!(
            action_of(&plan, id),
            Some(Action::Create),
            "{id} is not planned as a create"
        );
    }

    project.run(&["apply", "--yes"]).ok();
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
}
