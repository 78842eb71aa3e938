//! `deployer destroy`: delete every owned resource of the stack in reverse dependency order,
//! leaving a final database snapshot unless told otherwise, then scan for anything left.

use serde_json::json;

use super::{Failure, confirm, interrupt_signal, poll_interval};
use crate::aws::stack::{observe, scan};
use crate::aws::{Aws, ec2, rds};
use crate::cli::{DestroyArgs, Global};
use crate::engine::{self, Context, Options};
use crate::plan::{Action, Plan, Step, unowned};
use crate::profile::load::load;
use crate::render::Format;
use crate::render::plan::{Heading, text};
use crate::render::progress::Progress;
use crate::stack::spec::Kind;
use crate::stack::{Desired, Environment};

pub async fn run(global: &Global, args: &DestroyArgs) -> Result<i32, Failure> {
    // Only the stack name and network matter here: a broken template must not block a destroy.
    let loaded = load(&global.profile)?;
    let aws = super::connect(global, &loaded).await?;
    let vpc_id = ec2::resolve_vpc(&aws, &loaded.profile.network.vpc)
        .await
        .map_err(|e| super::network_failure(&loaded, e))?;
    let work = destroy(global, args, &loaded, &aws, vpc_id);
    super::while_locked(&aws, &loaded.profile.stack, "destroy", work).await
}

async fn destroy(
    global: &Global,
    args: &DestroyArgs,
    loaded: &crate::profile::load::LoadedProfile,
    aws: &Aws,
    vpc_id: String,
) -> Result<i32, Failure> {
    let mut desired = Desired {
        stack: loaded.profile.stack.clone(),
        environment: Environment {
            account: String::new(),
            partition: "aws".into(),
            region: aws.region.clone(),
            vpc_id: vpc_id.clone(),
            subnets: vec![],
            base_image: None,
            group_base_images: Default::default(),
        },
        resources: vec![],
        keep_images: 0,
        groups: loaded
            .profile
            .groups
            .keys()
            .map(|name| (name.clone(), 0))
            .collect(),
        warnings: vec![],
    };
    let names = desired.names();
    let observed = observe(aws, &names, &vpc_id).await?;
    // Every node group found goes in order, the ones the profile no longer declares too (the
    // data tier's rules may still name them).
    for live in &observed.resources {
        if live.id.kind == Kind::SecurityGroup
            && live.owner() == Some(desired.stack.as_str())
            && let Some(group) = live.tags.get(crate::stack::naming::TAG_GROUP)
        {
            desired.groups.entry(group.clone()).or_insert(0);
        }
    }
    let foreign = unowned(&desired.stack, &observed);
    let final_snapshot =
        (!args.skip_final_snapshot).then(|| names.final_snapshot(chrono::Utc::now()));

    let mut steps: Vec<Step> = observed
        .resources
        .iter()
        .filter(|r| r.owner() == Some(desired.stack.as_str()))
        .filter(|r| !(args.keep_images && matches!(r.id.kind, Kind::Image | Kind::Snapshot)))
        .map(|r| {
            let note = (r.id.kind == Kind::Database).then(|| match &final_snapshot {
                Some(snapshot) => {
                    format!("final snapshot {snapshot}; deletion protection is lifted first")
                }
                None => "NO final snapshot (--skip-final-snapshot): its data will be lost".into(),
            });
            Step::bare(r.id.clone(), Action::Delete, note)
        })
        .collect();
    steps.sort_by_key(|step| std::cmp::Reverse(step.id.kind));
    let plan = Plan {
        stack: desired.stack.clone(),
        steps,
    };
    let text_mode = args.output == Format::Text;
    let heading = Heading {
        profile: &loaded.name,
        region: &aws.region,
    };
    if text_mode {
        if plan.steps.is_empty() {
            println!("Nothing to destroy: stack {} has no resources.", plan.stack);
        } else {
            print!("{}", text(&plan, &heading));
        }
    }
    for resource in &foreign {
        eprintln!("warning: not deleting {resource}");
    }

    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    if !plan.steps.is_empty() {
        if !args.yes {
            confirm(
                &format!(
                    "Destroy stack {} ({} resources)? This cannot be undone.",
                    plan.stack,
                    plan.steps.len()
                ),
                &plan.stack,
                "--yes",
            )?;
        }
        let context = Context {
            aws,
            desired: &desired,
            observed: &observed,
            progress: if text_mode {
                Progress::for_stderr()
            } else {
                Progress::quiet()
            },
            options: Options {
                poll_interval: poll_interval(global.poll_interval),
                final_snapshot: final_snapshot.clone(),
            },
        };
        let outcome = engine::run(&context, &plan, interrupt_signal()).await;
        deleted = outcome.done.iter().map(|(id, _)| id.to_string()).collect();
        for (id, error) in &outcome.failed {
            eprintln!("error: {id}: {error}");
            failed.push(json!({"resource": id.to_string(), "error": error.to_string()}));
        }
        if outcome.interrupted {
            eprintln!("interrupted: run `deployer destroy` again to finish");
            return Ok(130);
        }
    }

    let (kept_images, remaining): (Vec<_>, Vec<_>) =
        scan(aws, &names).await?.into_iter().partition(|(what, _)| {
            args.keep_images && (what.starts_with("image") || what.starts_with("snapshot"))
        });
    let snapshots = rds::snapshots(aws, &names.database()).await?;
    match args.output {
        Format::Text => {
            if !snapshots.is_empty() {
                println!("Kept: final database snapshots {}", snapshots.join(", "));
            }
            for (what, id) in &kept_images {
                println!("Kept (--keep-images): {what} ({id})");
            }
            if remaining.is_empty() {
                println!(
                    "Destroy complete: nothing tagged deployer:stack={} remains.",
                    plan.stack
                );
            } else {
                println!("Still tagged for stack {}:", plan.stack);
                for (what, id) in &remaining {
                    println!("  {what} ({id})");
                }
            }
        }
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "stack": plan.stack,
                "deleted": deleted,
                "failed": failed,
                "not_owned": foreign.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
                "remaining": remaining.iter().map(|(what, id)| json!({"resource": what, "id": id})).collect::<Vec<_>>(),
                "kept_snapshots": snapshots,
                "kept_images": kept_images.iter().map(|(what, id)| json!({"resource": what, "id": id})).collect::<Vec<_>>(),
            }))
            .expect("destroy result serializes")
        ),
    }
    if !failed.is_empty() || !remaining.is_empty() || !foreign.is_empty() {
        return Err(Failure::stop(
            "destroy did not remove everything",
            "run `deployer destroy` again; resources not owned by the stack must be removed by hand",
        ));
    }
    Ok(0)
}
