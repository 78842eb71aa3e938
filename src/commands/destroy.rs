//! `deployer destroy`: delete every owned resource of the stack in reverse dependency order,
//! leaving a final database snapshot unless told otherwise, then scan for anything left.

use super::{Failure, confirm, done_of, failed_of, observe, poll_interval};
use crate::aws::{Aws, ec2};
use crate::cli::{DestroyArgs, Global};
use crate::engine::{self, Context, Options};
use crate::ids::names::Names;
use crate::ids::tags::TAG_GROUP;
use crate::plan::unowned;
use crate::profile::load::load;
use crate::render::plan::{Heading, text};
use crate::render::progress::Progress;
use crate::render::report::{DestroyReport, Found, Kept, emit};
use crate::render::{self, Format, errors};
use crate::resources::observed::scan;
use crate::resources::{REGISTRY, Scope, handler};

pub async fn run(global: &Global, args: &DestroyArgs) -> Result<i32, Failure> {
    // Only the stack name and network matter here: a broken template must not block a destroy.
    let loaded = load(global.profile())?;
    let aws = super::connect(global, &loaded).await?;
    let vpc_id = ec2::stack_vpc(&aws, &loaded.profile.network, &loaded.profile.stack)
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
        let about = handler(live.id.kind).about();
        (args.keep_images && about.artifact) || (args.keep_logs && about.logs)
    };
    let plan = crate::plan::destroy(&stack, &observed, keep, &options);
    let text_mode = args.output == Format::Text;
    let heading = Heading {
        profile: &loaded.name,
        region: &aws.region,
    };
    if text_mode {
        if plan.steps.is_empty() {
            render::out(&format!(
                "Nothing to destroy: stack {} has no resources.\n",
                plan.stack
            ));
        } else {
            render::out(&text(&plan, &heading));
        }
    }
    for resource in &foreign {
        errors::warning(&format!("not deleting {resource}"));
    }

    let mut report = DestroyReport {
        stack: plan.stack.clone(),
        succeeded: true,
        interrupted: false,
        done: vec![],
        deleted: vec![],
        failed: vec![],
        not_started: vec![],
        not_owned: foreign.iter().map(|f| f.to_string()).collect(),
        remaining: vec![],
        kept: vec![],
        kept_snapshots: vec![],
        kept_images: vec![],
    };
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
            )
            .await?;
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
        let outcome = engine::destroy(&context, &plan, crate::interrupt::flag()).await;
        report.done = done_of(&outcome.done);
        report.deleted = outcome.done.iter().map(|(id, _)| id.to_string()).collect();
        report.failed = failed_of(&outcome.failed);
        report.not_started = outcome
            .not_started
            .iter()
            .map(|id| id.to_string())
            .collect();
        errors::run_failures(&outcome.failed, &[]);
        // An interrupt that came after the last delete had started leaves nothing to do: the
        // scan below says what remains.
        let left = !outcome.failed.is_empty() || !outcome.not_started.is_empty();
        if outcome.interrupted && left {
            report.succeeded = false;
            report.interrupted = true;
            if !text_mode {
                emit(&report, args.output);
            }
            let why = crate::interrupt::current().map_or("interrupted", |s| s.describe());
            errors::note(&format!(
                "{why} after {} deletion(s): run `deployer destroy` again to finish",
                outcome.done.len()
            ));
            return Ok(crate::interrupt::exit_code());
        }
        report.interrupted = outcome.interrupted;
    }

    let scope = Scope::new(aws, &names, &vpc_id);
    let found = |(resource, id): (String, String)| Found { resource, id };
    let (kept_logs, left): (Vec<_>, Vec<_>) =
        scan(scope, REGISTRY)
            .await?
            .into_iter()
            .partition(|(what, _)| {
                args.keep_logs
                    && (what.starts_with("access log bucket") || what.starts_with("log group"))
            });
    if !kept_logs.is_empty() {
        report.kept.push(Kept {
            what: "the logs (--keep-logs)".to_string(),
            ids: kept_logs.into_iter().map(|(_, id)| id).collect(),
        });
    }
    let (kept_images, remaining): (Vec<_>, Vec<_>) = left.into_iter().partition(|(what, _)| {
        args.keep_images && (what.starts_with("image") || what.starts_with("snapshot"))
    });
    report.kept_images = kept_images.into_iter().map(found).collect();
    report.remaining = remaining.into_iter().map(found).collect();
    for handler in REGISTRY {
        if let Some((what, ids)) = handler.kept(scope).await? {
            report.kept_snapshots.extend(ids.iter().cloned());
            report.kept.push(Kept {
                what: what.to_string(),
                ids,
            });
        }
    }
    report.succeeded =
        report.failed.is_empty() && report.remaining.is_empty() && report.not_owned.is_empty();
    emit(&report, args.output);
    if !report.succeeded {
        return Err(Failure::stop(
            "destroy did not remove everything",
            "run `deployer destroy` again; resources not owned by the stack must be removed by hand",
        ));
    }
    Ok(0)
}
