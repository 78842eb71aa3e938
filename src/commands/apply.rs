//! `deployer apply [FILE]`: show the plan, confirm, converge, print the outputs.

use super::{
    Failure, confirm, done_of, failed_of, interrupt_signal, make_plan, observe, poll_interval,
    prepare, release, take_lock,
};
use crate::aws::lock::Lock;
use crate::aws::{Aws, Connection};
use crate::cli::{ApplyArgs, Global};
use crate::engine::{self, Context, Options};
use crate::plan::saved::SavedPlan;
use crate::plan::{Action, Plan};
use crate::render::plan::{Heading, text};
use crate::render::progress::Progress;
use crate::render::report::{ApplyReport, emit};
use crate::render::{self, Format, errors};
use crate::resources::observed::Observed;
use crate::resources::{REGISTRY, handler, outputs};
use crate::stack::Desired;

struct Ready {
    aws: Aws,
    desired: Desired,
    observed: Observed,
    plan: Plan,
    profile: String,
    saved: bool,
}

type Locked = (Ready, Option<Lock>);

async fn from_saved(global: &Global, args: &ApplyArgs) -> Result<Option<Locked>, Failure> {
    let Some(path) = &args.file else {
        return Ok(None);
    };
    let saved = SavedPlan::read(path).map_err(Failure::Usage)?;
    let aws = Aws::connect(&Connection {
        region: Some(saved.region.clone()),
        endpoint_url: global.endpoint_url.clone(),
    })
    .await?;
    let desired = saved.desired;
    let lock = take_lock(&aws, &desired.stack, "apply").await?;
    let checked = check_saved(
        &aws,
        &desired,
        &saved.observed,
        &saved.plan,
        path,
        &saved.created_at,
    )
    .await;
    let observed = match checked {
        Ok(observed) => observed,
        Err(failure) => {
            release(Some(lock)).await;
            return Err(failure);
        }
    };
    Ok(Some((
        Ready {
            aws,
            desired,
            observed,
            plan: saved.plan,
            profile: saved.profile,
            saved: true,
        },
        Some(lock),
    )))
}

/// The live stack, if it is still what the saved plan saw (and the plan still what it gives).
async fn check_saved(
    aws: &Aws,
    desired: &Desired,
    seen: &std::collections::BTreeMap<String, String>,
    saved_plan: &Plan,
    path: &std::path::Path,
    created_at: &str,
) -> Result<Observed, Failure> {
    let observed = observe(aws, &desired.names(), &desired.environment.vpc_id).await?;
    let replan = make_plan(desired, &observed)?;
    let changes = crate::plan::saved::changed(seen, &observed.fingerprints());
    if !changes.is_empty() || &replan != saved_plan {
        return Err(Failure::stop(
            format!(
                "the stack changed since {} was made (at {}): {}; it no longer applies as planned, and nothing was changed",
                path.display(),
                created_at,
                if changes.is_empty() {
                    "the plan it gives now differs".to_string()
                } else {
                    changes.join(", ")
                }
            ),
            "make a new plan: deployer plan --out FILE",
        ));
    }
    Ok(observed)
}

pub async fn run(global: &Global, args: &ApplyArgs) -> Result<i32, Failure> {
    let (ready, lock) = match from_saved(global, args).await? {
        Some(locked) => locked,
        None => {
            // Look before locking: an apply with nothing to do changes nothing, not even the
            // lock. With changes, the lock is taken and the stack read again under it.
            let mut prepared = prepare(global, None).await?;
            super::warn(&prepared.desired);
            if args.reset_scale {
                prepared.desired.reset_scale();
            }
            let mut plan = make_plan(&prepared.desired, &prepared.observed)?;
            if plan.has_changes() {
                prepared.lock_and_reread("apply").await?;
                plan = match make_plan(&prepared.desired, &prepared.observed) {
                    Ok(plan) => plan,
                    Err(failure) => {
                        release(prepared.lock).await;
                        return Err(failure);
                    }
                };
            }
            (
                Ready {
                    aws: prepared.aws,
                    desired: prepared.desired,
                    observed: prepared.observed,
                    plan,
                    profile: prepared.loaded.name,
                    saved: false,
                },
                prepared.lock,
            )
        }
    };
    let result = converge(global, args, ready).await;
    release(lock).await;
    result
}

/// Show the plan, confirm, run it and print the outputs (the lock is held by the caller).
async fn converge(global: &Global, args: &ApplyArgs, ready: Ready) -> Result<i32, Failure> {
    let Ready {
        aws,
        desired,
        observed,
        plan,
        profile,
        saved,
    } = ready;
    let heading = Heading {
        profile: &profile,
        region: &aws.region,
    };
    let text_mode = args.output == Format::Text;
    if text_mode {
        render::out(&text(&plan, &heading));
    }

    if let Some(step) = plan
        .steps
        .iter()
        .find(|s| s.action == Action::Replace && handler(s.id.kind).about().holds_data)
    {
        return Err(Failure::stop(
            format!(
                "{} would have to be replaced ({}); deployer does not replace resources that hold data. Nothing was changed.",
                step.id,
                step.reasons.join("; ")
            ),
            "put the old value back in the profile, or snapshot the data, `deployer destroy`, and apply again",
        ));
    }

    let mut report = ApplyReport {
        stack: plan.stack.clone(),
        succeeded: true,
        interrupted: false,
        done: vec![],
        failed: vec![],
        not_started: vec![],
        outputs: vec![],
    };
    let mut live = engine::ledger_of(&observed);
    if plan.has_changes() {
        if !args.yes && !saved {
            confirm(
                &format!("Apply these changes to stack {}?", plan.stack),
                "yes",
                "--yes",
            )?;
        }
        let progress = if text_mode {
            Progress::for_stderr()
        } else {
            Progress::quiet()
        };
        let names = desired.names();
        let context = Context {
            aws: &aws,
            handlers: REGISTRY,
            names: &names,
            vpc_id: &desired.environment.vpc_id,
            observed: &observed,
            progress,
            options: Options {
                poll_interval: poll_interval(global.poll_interval),
                ..Options::default()
            },
        };
        let outcome = engine::apply(&context, &desired.resources, &plan, interrupt_signal()).await;
        report.done = done_of(&outcome.done);
        if !outcome.succeeded() {
            errors::run_failures(&outcome.failed, &outcome.not_started);
            report.succeeded = false;
            report.interrupted = outcome.interrupted;
            report.failed = failed_of(&outcome.failed);
            report.not_started = outcome
                .not_started
                .iter()
                .map(|id| id.to_string())
                .collect();
            if !text_mode {
                emit(&report, args.output);
            }
            let hint = "what was done is kept; fix the cause if any and run `deployer apply` again to resume";
            if outcome.interrupted {
                errors::note(&format!(
                    "interrupted after {} change(s); {hint}",
                    outcome.done.len()
                ));
                return Ok(130);
            }
            return Err(Failure::stop(
                format!("apply failed after {} change(s)", outcome.done.len()),
                hint,
            ));
        }
        if text_mode {
            errors::note(&format!("Apply complete: {}.", crate::plan::summary(&plan)));
        }
        live = outcome.ledger;
    }

    // The outputs come from what the run saw and did: no second look is needed.
    let entries: Vec<_> = desired
        .resources
        .iter()
        .filter_map(|r| live.get(&r.id).map(|l| (&r.id, r.group.as_deref(), l)))
        .collect();
    report.outputs = outputs(&entries);
    emit(&report, args.output);
    Ok(0)
}
