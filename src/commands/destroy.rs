//! `deployer destroy`: delete every owned resource of the stack in reverse dependency order,
//! leaving a final database snapshot unless told otherwise, then scan for anything left.

use serde_json::json;

use super::{Failure, confirm, interrupt_signal, observe, poll_interval};
use crate::aws::{Aws, ec2};
use crate::cli::{DestroyArgs, Global};
use crate::engine::{self, Context, Options};
use crate::ids::names::Names;
use crate::ids::tags::TAG_GROUP;
use crate::plan::unowned;
use crate::profile::load::load;
use crate::render::Format;
use crate::render::plan::{Heading, text};
use crate::render::progress::Progress;
use crate::resources::observed::scan;
use crate::resources::{REGISTRY, Scope, handler};

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
    let stack = loaded.profile.stack.clone();
    let declared: Vec<String> = loaded.profile.groups.keys().cloned().collect();
    let names = Names::with_groups(&stack, &declared);
    let observed = observe(aws, &names, &vpc_id).await?;
    // Every node group found goes, the ones the profile no longer declares too.
    let mut groups = declared;
    for live in &observed.resources {
        if live.owner() == Some(stack.as_str())
            && let Some(group) = live.tags.get(TAG_GROUP)
            && !groups.contains(group)
        {
            groups.push(group.clone());
        }
    }
    let names = Names::with_groups(&stack, &groups);
    let foreign = unowned(&stack, &observed);
    let options = Options {
        poll_interval: poll_interval(global.poll_interval),
        final_snapshot: (!args.skip_final_snapshot)
            .then(|| names.final_snapshot(chrono::Utc::now())),
        ..Options::default()
    };
    let keep = |live: &crate::resources::observed::ObservedResource| {
        args.keep_images && handler(live.id.kind).about().artifact
    };
    let plan = crate::plan::destroy(&stack, &observed, keep, &options);
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
            handlers: REGISTRY,
            names: &names,
            vpc_id: &vpc_id,
            observed: &observed,
            progress: if text_mode {
                Progress::for_stderr()
            } else {
                Progress::quiet()
            },
            options,
        };
        let outcome = engine::destroy(&context, &plan, interrupt_signal()).await;
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

    let scope = Scope::new(aws, &names, &vpc_id);
    let (kept_images, remaining): (Vec<_>, Vec<_>) = scan(scope, REGISTRY)
        .await?
        .into_iter()
        .partition(|(what, _)| {
            args.keep_images && (what.starts_with("image") || what.starts_with("snapshot"))
        });
    let mut kept = Vec::new();
    for handler in REGISTRY {
        if let Some(found) = handler.kept(scope).await? {
            kept.push(found);
        }
    }
    let snapshots: Vec<String> = kept.iter().flat_map(|(_, ids)| ids.clone()).collect();
    match args.output {
        Format::Text => {
            for (what, ids) in &kept {
                println!("Kept: {what} {}", ids.join(", "));
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
