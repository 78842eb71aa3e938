//! `deployer apply [FILE]`: show the plan, confirm, converge, print the outputs.

use super::{
    Failure, confirm, done_of, failed_of, make_plan, observe, poll_interval, prepare, release,
    take_lock,
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
}

type Locked = (Ready, Option<Lock>);

async fn from_saved(global: &Global, args: &ApplyArgs) -> Result<Option<Locked>, Failure> {
    let Some(path) = &args.file else {
        return Ok(None);
    };
    let saved = SavedPlan::read(path).map_err(Failure::Usage)?;
    // A saved plan applies its own stack: a profile or region given beside it that says
    // otherwise is a mistake to stop at, not to ignore.
    let given_profile = global
        .profile
        .as_deref()
        .map(crate::profile::load::profile_name);
    if let Some(given) = given_profile.filter(|given| *given != saved.profile) {
        return Err(Failure::Usage(format!(
            "{} is a plan for profile `{}` (stack {}, region {}), not for profile `{given}`; nothing was changed",
            path.display(),
            saved.profile,
            saved.desired.stack,
            saved.region
        )));
    }
    if let Some(given) = global
        .region
        .as_deref()
        .filter(|given| *given != saved.region)
    {
        return Err(Failure::Usage(format!(
            "{} is a plan for region {} (stack {}), not for --region {given}; nothing was changed",
            path.display(),
            saved.region,
            saved.desired.stack
        )));
    }
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
    if let Some((ready, lock)) = from_saved(global, args).await? {
        // A saved plan was confirmed when it was made: it runs under the lock it was checked under.
        // Nobody is asked: a disruptive saved plan needs --allow-disruption.
        let result = match present(args, &ready.plan, &ready.profile, &ready.aws.region)
            .and_then(|()| disruption_allowed(args, &ready.plan))
        {
            Ok(()) => converge(global, args, ready).await,
            Err(failure) => Err(failure),
        };
        release(lock).await;
        return result;
    }
    // Look before locking: an apply with nothing to do changes nothing, not even the lock.
    let mut prepared = prepare(global, None).await?;
    super::warn(&prepared.desired);
    if args.reset_scale {
        prepared.desired.reset_scale();
    }
    let mut plan = make_plan(&prepared.desired, &prepared.observed)?;
    super::accepted(&prepared, &plan).await?;
    let ask = plan.has_changes() && !args.yes;
    if ask {
        // The lock is taken once the answer is in, so that a person thinking it over (or a
        // Ctrl-C at the prompt) holds nobody up; what was shown must still be what applies.
        present(args, &plan, &prepared.loaded.name, &prepared.aws.region)?;
        let disruptions = plan.disruptions();
        if disruptions.is_empty() {
            confirm(
                &format!("Apply these changes to stack {}?", plan.stack),
                "yes",
                "--yes",
            )
            .await?;
        } else {
            // A reboot or failover of the data tier is confirmed by name, not by habit.
            confirm(
                &format!(
                    "These changes interrupt or slow the running data tier:\n  {}\nType the stack name ({}) to apply them",
                    disruptions.join("\n  "),
                    plan.stack
                ),
                &plan.stack,
                "--yes --allow-disruption",
            )
            .await?;
        }
    } else if plan.has_changes() {
        // Refused before the lock is taken: nothing changes.
        if let Err(failure) = disruption_allowed(args, &plan) {
            let _ = present(args, &plan, &prepared.loaded.name, &prepared.aws.region);
            return Err(failure);
        }
    }
    if plan.has_changes() {
        prepared.lock_and_reread("apply").await?;
        let replan = match make_plan(&prepared.desired, &prepared.observed) {
            Ok(replan) => replan,
            Err(failure) => {
                release(prepared.lock).await;
                return Err(failure);
            }
        };
        if ask && replan != plan {
            release(prepared.lock).await;
            return Err(Failure::stop(
                "the stack changed while the plan was being confirmed; nothing was changed",
                "run `deployer apply` again to see the plan as it is now",
            ));
        }
        // What changed under the lock is held to the same checks.
        if replan != plan
            && let Err(failure) = super::accepted(&prepared, &replan).await
        {
            release(prepared.lock).await;
            return Err(failure);
        }
        plan = replan;
    }
    let shown = if ask {
        Ok(())
    } else {
        present(args, &plan, &prepared.loaded.name, &prepared.aws.region)
    };
    let super::Prepared {
        loaded,
        aws,
        desired,
        observed,
        lock,
    } = prepared;
    let ready = Ready {
        aws,
        desired,
        observed,
        plan,
        profile: loaded.name,
    };
    let result = match shown {
        Ok(()) => converge(global, args, ready).await,
        Err(failure) => Err(failure),
    };
    release(lock).await;
    result
}

/// Without a person asked (--yes, a saved plan), a change that reboots or fails over the data
/// tier needs --allow-disruption.
fn disruption_allowed(args: &ApplyArgs, plan: &Plan) -> Result<(), Failure> {
    let disruptions = plan.disruptions();
    if disruptions.is_empty() || args.allow_disruption {
        return Ok(());
    }
    Err(Failure::stop(
        format!(
            "the plan interrupts or slows the running data tier and nobody was asked: {}. Nothing was changed.",
            disruptions.join("; ")
        ),
        "apply it at a quiet time with --allow-disruption (with --yes or a saved plan), or run `deployer apply` on a terminal to confirm it by name",
    ))
}

/// Show the plan; refuse one that would replace what holds data.
fn present(args: &ApplyArgs, plan: &Plan, profile: &str, region: &str) -> Result<(), Failure> {
    if args.output == Format::Text {
        render::out(&text(plan, &Heading { profile, region }));
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
    Ok(())
}

/// Run the plan (shown and confirmed, the lock held by the caller) and print the outputs.
async fn converge(global: &Global, args: &ApplyArgs, ready: Ready) -> Result<i32, Failure> {
    let Ready {
        aws,
        desired,
        observed,
        plan,
        profile: _,
    } = ready;
    let text_mode = args.output == Format::Text;

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
        let outcome = engine::apply(
            &context,
            &desired.resources,
            &plan,
            crate::interrupt::flag(),
        )
        .await;
        report.done = done_of(&outcome.done);
        // An interrupt that came after the last step had started leaves nothing to do.
        let left = !outcome.failed.is_empty() || !outcome.not_started.is_empty();
        if left {
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
            if let Some(signal) = crate::interrupt::current() {
                errors::note(&format!(
                    "{} after {} change(s); {hint}",
                    signal.describe(),
                    outcome.done.len()
                ));
                return Ok(crate::interrupt::exit_code());
            }
            return Err(Failure::stop(
                format!("apply failed after {} change(s)", outcome.done.len()),
                hint,
            ));
        }
        if text_mode {
            render::out(&format!(
                "Apply complete: {}.\n",
                crate::plan::summary(&plan)
            ));
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
