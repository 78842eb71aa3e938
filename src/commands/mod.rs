//! The commands: thin sequences of the layers below (profile, stack, aws, plan, engine, render).

pub mod account;
pub mod apply;
pub mod bake;
pub mod destroy;
pub mod docs;
pub mod plan;
pub mod scale;
pub mod status;
pub mod unlock;
pub mod validate;

use std::fmt;
use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use crate::aws::lock::{self, Lock, LockError};
use crate::aws::{Aws, AwsError, Connection, ec2};
use crate::cli::Global;
use crate::ids::names::Names;
use crate::plan::{Action, Plan, plan};
use crate::profile::error::ProfileErrors;
use crate::profile::load::{LoadedProfile, load};
use crate::render::report::{Done, Failed};
use crate::render::report::{ErrorReport, Location};
use crate::resources::observed::{self, Observed};
use crate::resources::{REGISTRY, Scope};
use crate::stack::{Desired, build, check};

/// Why a command failed. Every failure exits 1 (2 is only `plan --detailed-exitcode`'s
/// "changes"), so that a script can tell breakage from drift.
#[derive(Debug)]
pub enum Failure {
    /// The profile (or a template, or a reference in it) is wrong: nothing changed.
    Profile(ProfileErrors),
    /// The command line is wrong.
    Usage(String),
    /// AWS said no, or a step failed: exit 1.
    Aws(AwsError),
    /// Anything else that stops the command: exit 1, with an optional hint.
    Stop(String, Option<String>),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        1
    }

    /// The failure for programs (`--output json`).
    pub fn report(&self) -> ErrorReport {
        let plain = |code: &str, message: &str, hint: Option<&str>| ErrorReport {
            code: code.into(),
            message: message.into(),
            location: None,
            hint: hint.map(str::to_string),
            problems: vec![],
        };
        match self {
            Failure::Profile(errors) => {
                let problems: Vec<ErrorReport> = errors
                    .0
                    .iter()
                    .map(|error| ErrorReport {
                        location: Some(Location {
                            file: Some(error.file.clone()),
                            line: error.position.map(|(line, _)| line),
                            column: error.position.map(|(_, column)| column),
                            key: error.key.clone(),
                            ..Location::default()
                        }),
                        ..plain(
                            error.code.unwrap_or("profile"),
                            &error.message,
                            error.hint.as_deref(),
                        )
                    })
                    .collect();
                let mut first = problems
                    .first()
                    .cloned()
                    .unwrap_or_else(|| plain("profile", "the profile is not valid", None));
                if problems.len() > 1 {
                    first.problems = problems;
                }
                first
            }
            Failure::Usage(message) => plain("usage", message, None),
            Failure::Stop(message, hint) => plain("refused", message, hint.as_deref()),
            Failure::Aws(error) => ErrorReport {
                location: Some(Location {
                    call: Some(error.what.clone()),
                    ..Location::default()
                }),
                ..plain(
                    error.code.as_deref().unwrap_or("aws"),
                    &error.message,
                    error.hint.as_deref(),
                )
            },
        }
    }

    pub fn stop(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure::Stop(message.into(), Some(hint.into()))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Profile(errors) => write!(f, "{errors}"),
            Failure::Usage(message) | Failure::Stop(message, _) => f.write_str(message),
            Failure::Aws(error) => write!(f, "{error}"),
        }
    }
}

impl From<AwsError> for Failure {
    fn from(error: AwsError) -> Self {
        Failure::Aws(error)
    }
}

impl From<ProfileErrors> for Failure {
    fn from(errors: ProfileErrors) -> Self {
        Failure::Profile(errors)
    }
}

/// A profile loaded and checked, AWS connected, the stack's desired and live state known.
pub struct Prepared {
    pub loaded: LoadedProfile,
    pub aws: Aws,
    pub desired: Desired,
    pub observed: Observed,
    /// The stack's lock, when the command changes the stack.
    pub lock: Option<Lock>,
}

/// Load and check the profile (no AWS calls), then connect.
pub async fn load_and_connect(global: &Global) -> Result<(LoadedProfile, Aws), Failure> {
    let loaded = load(global.profile())?;
    // Templates are checked before any AWS call.
    check(
        &loaded,
        region(global, &loaded).as_deref().unwrap_or("us-east-1"),
    )?;
    let aws = connect(global, &loaded).await?;
    Ok((loaded, aws))
}

/// The region: `--region`, else the profile's, else the AWS chain's (None).
fn region(global: &Global, loaded: &LoadedProfile) -> Option<String> {
    global
        .region
        .clone()
        .or_else(|| loaded.profile.region.clone())
}

/// Connect for the profile, without checking its templates (destroy, scale and unlock must work
/// whatever the templates say).
pub async fn connect(global: &Global, loaded: &LoadedProfile) -> Result<Aws, Failure> {
    Ok(Aws::connect(&Connection {
        region: region(global, loaded),
        endpoint_url: global.endpoint_url.clone(),
    })
    .await?)
}

/// Everything plan and apply need. With `lock_for`, the stack's lock is taken (for that
/// command) before the live state is read, and is held in `Prepared::lock`.
pub async fn prepare(global: &Global, lock_for: Option<&str>) -> Result<Prepared, Failure> {
    let (loaded, aws) = load_and_connect(global).await?;
    let (environment, mut problems) = account::environment(&loaded, &aws).await?;
    let Some(mut environment) = environment else {
        return Err(Failure::Profile(ProfileErrors(problems)));
    };
    if !problems.is_empty() {
        // What the stack itself finds wrong comes in the same report.
        if let Err(errors) = build(&loaded, &environment) {
            problems.extend(errors.0);
        }
        return Err(Failure::Profile(ProfileErrors(problems)));
    }
    let groups: Vec<String> = loaded.profile.groups.keys().cloned().collect();
    let names = Names::with_groups(&loaded.profile.stack, &groups);
    let lock = match lock_for {
        Some(command) => Some(take_lock(&aws, &loaded.profile.stack, command).await?),
        None => None,
    };
    // The live state comes before the stack is built: a bake keeps the base image its group's
    // live image was baked from.
    let built = match observe(&aws, &names, &environment.vpc_id).await {
        Ok(observed) => {
            match account::keep_base_images(
                &loaded,
                &aws,
                &names,
                &mut environment,
                &observed,
                global.refresh_base_image,
            )
            .await
            {
                Ok(()) => build(&loaded, &environment)
                    .map(|desired| (desired, observed))
                    .map_err(Failure::Profile),
                Err(failure) => Err(failure),
            }
        }
        Err(error) => Err(error.into()),
    };
    let (desired, observed) = match built {
        Ok(built) => built,
        Err(failure) => {
            release(lock).await;
            return Err(failure);
        }
    };
    Ok(Prepared {
        loaded,
        aws,
        desired,
        observed,
        lock,
    })
}

impl Prepared {
    /// Take the stack's lock for `command` (if not held yet) and read the live state again under
    /// it: what was read before may have been changed by the run that held the lock.
    pub async fn lock_and_reread(&mut self, command: &str) -> Result<(), Failure> {
        if self.lock.is_none() {
            self.lock = Some(take_lock(&self.aws, &self.desired.stack, command).await?);
        }
        match observe(
            &self.aws,
            &self.desired.names(),
            &self.desired.environment.vpc_id,
        )
        .await
        {
            Ok(observed) => {
                self.observed = observed;
                Ok(())
            }
            Err(error) => {
                release(self.lock.take()).await;
                Err(error.into())
            }
        }
    }
}

/// Take the stack's lock for `command`, or fail naming who holds it.
pub async fn take_lock(aws: &Aws, stack: &str, command: &str) -> Result<Lock, Failure> {
    match lock::acquire(aws, stack, command).await {
        Ok(lock) => {
            if let Some(old) = &lock.took_over {
                let whose = if old.expired() {
                    "the expired lock"
                } else {
                    "the lock of a run that no longer runs"
                };
                crate::render::errors::warning(&format!(
                    "took over {whose} of stack {stack}: {}",
                    old.describe()
                ));
            }
            Ok(lock)
        }
        Err(LockError::Held(record)) => Err(Failure::stop(
            format!("stack {stack} is locked: {}", record.describe()),
            format!(
                "wait for it to finish; if it died, its lock expires at {} (or run `deployer unlock`)",
                record.expires.format("%H:%M:%S UTC")
            ),
        )),
        Err(LockError::Aws(error)) => Err(error.into()),
    }
}

/// A network lookup that failed: AWS's error, or a profile error located at the key it concerns.
pub fn network_failure(loaded: &LoadedProfile, error: ec2::NetworkError) -> Failure {
    match error {
        ec2::NetworkError::Aws(error) => error.into(),
        ec2::NetworkError::Profile(problem) => {
            let mut error = loaded.error_at(&problem.key, problem.message);
            error.hint = problem.hint;
            Failure::Profile(error.into())
        }
    }
}

/// Run `work` holding the stack's lock for `command`, and give the lock back whatever it returns.
/// (`work` is a future: nothing of it runs before the lock is held.)
pub async fn while_locked<T>(
    aws: &Aws,
    stack: &str,
    command: &str,
    work: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    let lock = take_lock(aws, stack, command).await?;
    let result = work.await;
    release(Some(lock)).await;
    result
}

/// Give the lock back; a failure to do so is a warning (the lock expires anyway).
pub async fn release(lock: Option<Lock>) {
    if let Some(lock) = lock
        && let Err(error) = lock.release().await
    {
        crate::render::errors::warning(&format!(
            "{error}; the lock expires by itself, or `deployer unlock` removes it"
        ));
    }
}

/// Print the profile's warnings (things that do not stop the run) to stderr.
pub fn warn(desired: &Desired) {
    for warning in &desired.warnings {
        crate::render::errors::warning(warning);
    }
    for note in &desired.notes {
        crate::render::errors::note(&format!("note: {note}"));
    }
}

/// Everything the stack has live, read by the registry's kinds.
pub async fn observe(aws: &Aws, names: &Names, vpc_id: &str) -> Result<Observed, AwsError> {
    observed::observe(Scope::new(aws, names, vpc_id), REGISTRY).await
}

/// The plan, or a refusal naming every live resource that has our name but is not ours.
pub fn make_plan(desired: &Desired, observed: &Observed) -> Result<Plan, Failure> {
    plan(desired, observed).map_err(|foreign| {
        let list: Vec<String> = foreign.iter().map(|f| format!("  {f}")).collect();
        Failure::stop(
            format!(
                "resources with this stack's names are not owned by stack `{}`; deployer will not change or delete them:\n{}",
                desired.stack,
                list.join("\n")
            ),
            "choose another stack name, or delete (or tag deployer:stack) those resources yourself",
        )
    })
}

/// What AWS would refuse if `plan` sent it (`Desired::refusals`): a refusal counts when the plan
/// creates its resource or changes one of its attributes.
pub fn refused(desired: &Desired, plan: &Plan) -> Vec<crate::profile::error::ProfileError> {
    desired
        .refusals
        .iter()
        .filter(|refusal| {
            plan.step(&refusal.resource).is_some_and(|step| {
                if refusal.live_only && step.action == Action::Create {
                    return false;
                }
                step.action.creates()
                    || step
                        .changes
                        .iter()
                        .any(|c| refusal.attributes.contains(&c.attribute.as_str()))
            })
        })
        .map(|refusal| refusal.error.clone())
        .collect()
}

/// Whether the account takes `plan` as it is (run on the plan a command will carry out, before
/// any change): what AWS would refuse, and what the account's quotas cannot hold, in one report.
pub async fn accepted(prepared: &Prepared, plan: &Plan) -> Result<(), Failure> {
    let mut problems = refused(&prepared.desired, plan);
    problems.extend(
        account::check_quotas(&prepared.loaded, &prepared.aws, &prepared.desired, plan).await,
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Profile(ProfileErrors(problems)))
    }
}

/// What a run changed, for a report.
pub fn done_of(done: &[(crate::ids::ResourceId, crate::plan::Action)]) -> Vec<Done> {
    done.iter()
        .map(|(id, action)| Done {
            resource: id.to_string(),
            action: *action,
        })
        .collect()
}

/// What failed in a run, for a report.
pub fn failed_of(failed: &[(crate::ids::ResourceId, AwsError)]) -> Vec<Failed> {
    failed
        .iter()
        .map(|(id, error)| Failed {
            resource: id.to_string(),
            error: error.to_string(),
        })
        .collect()
}

/// Ask on the terminal; refuse when there is none (use --yes in scripts). Ctrl-C (or SIGTERM)
/// while asking cancels, like any answer but the expected one.
pub async fn confirm(question: &str, expected: &str, flag: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "confirmation needed but stdin is not a terminal: pass {flag} to go ahead without asking"
        )));
    }
    crate::render::errors::prompt(question, expected);
    let read = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map(|_| answer)
    });
    let answer = tokio::select! {
        answer = read => answer
            .map_err(|e| Failure::Stop(format!("cannot read the answer: {e}"), None))?
            .map_err(|e| Failure::Stop(format!("cannot read the answer: {e}"), None))?,
        signal = crate::interrupt::stopped() => {
            crate::render::errors::note("");
            return Err(Failure::Stop(
                format!("{}: cancelled, nothing was changed", signal.describe()),
                None,
            ));
        }
    };
    if answer.trim() == expected {
        Ok(())
    } else {
        Err(Failure::Stop("cancelled: nothing was changed".into(), None))
    }
}

pub fn poll_interval(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.clamp(0.05, 300.0))
}
