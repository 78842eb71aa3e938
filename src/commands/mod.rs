//! The commands: thin sequences of the layers below (profile, stack, aws, plan, engine, render).

pub mod apply;
pub mod bake;
pub mod destroy;
pub mod docs;
pub mod plan;
pub mod scale;
pub mod status;
pub mod unlock;
pub mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use crate::aws::lock::{self, Lock, LockError};
use crate::aws::{Aws, AwsError, Connection, ec2};
use crate::cli::Global;
use crate::ids::names::Names;
use crate::plan::{Plan, plan};
use crate::profile::error::ProfileErrors;
use crate::profile::load::{LoadedProfile, load};
use crate::profile::schema::BaseImage;
use crate::render::report::{Done, Failed};
use crate::render::report::{ErrorReport, Location};
use crate::resources::observed::{self, Observed};
use crate::resources::{REGISTRY, Scope};
use crate::stack::{Desired, Environment, build, check};

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
                        ..plain("profile", &error.message, error.hint.as_deref())
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

/// Resolve the account, network and image the profile names.
pub async fn environment(loaded: &LoadedProfile, aws: &Aws) -> Result<Environment, Failure> {
    let profile = &loaded.profile;
    // Every instance type a group or a builder launches: where AWS offers it.
    let types: std::collections::BTreeSet<String> = profile
        .node_tables()
        .into_iter()
        .flat_map(|(_, _, node)| {
            std::iter::once(node.instance_type.clone())
                .chain(node.bake.iter().map(|b| b.instance_type.clone()))
        })
        .collect();
    let (identity, network, image, certificates, offerings, runs) = aws
        .patiently(async {
            tokio::join!(
                aws.identity(),
                ec2::resolve_network(
                    aws,
                    &profile.network.vpc,
                    profile.network.subnets.as_deref()
                ),
                resolve_images(loaded, aws),
                check_certificates(loaded, aws),
                ec2::offerings(aws, &types),
                ec2::type_architectures(aws, &types),
            )
        })
        .await;
    let (account, partition) = identity?;
    certificates?;
    let offerings = offerings?;
    let (vpc_id, subnets) = network.map_err(|e| network_failure(loaded, e))?;
    let (base_image, group_base_images, architectures) = image?;
    check_architectures(
        loaded,
        base_image.as_deref(),
        &group_base_images,
        &architectures,
        &runs?,
    )?;
    Ok(Environment {
        account,
        partition,
        region: aws.region.clone(),
        vpc_id,
        subnets,
        base_image,
        group_base_images,
        offerings,
    })
}

/// Check that each listener's ACM certificate exists (an IAM server certificate is left to
/// the load balancer): a wrong ARN is found by plan, at its listener, not half-way into apply.
async fn check_certificates(loaded: &LoadedProfile, aws: &Aws) -> Result<(), Failure> {
    let listeners = &loaded.profile.load_balancer.listeners;
    let arns: Vec<Option<&str>> = listeners.iter().map(|l| l.certificate.as_deref()).collect();
    let found =
        crate::resources::load_balancer::certificates(aws, arns.iter().flatten().copied()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let errors: Vec<_> = arns
        .iter()
        .enumerate()
        .filter_map(|(i, arn)| {
            let arn = (*arn)?;
            let key = format!("load_balancer.listeners[{i}].certificate");
            let error = match found.get(arn)? {
                Ok(certificate) => return certificate_problem(loaded, &key, arn, certificate, now),
                Err(error) => error,
            };
            Some(if error.is("ResourceNotFoundException") {
                loaded
                    .error_at(
                        &key,
                        format!("no such certificate in {}: {arn}", aws.region),
                    )
                    .with_hint("`aws acm list-certificates` lists the region's certificates")
            } else {
                loaded
                    .error_at(&key, format!("cannot read the certificate: {error}"))
                    .with_hint(error.hint.clone().unwrap_or_else(|| {
                        "check the ARN and that acm:DescribeCertificate is allowed".into()
                    }))
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::Profile(crate::profile::error::ProfileErrors(
            errors,
        )))
    }
}

/// Each group's image (its own, or its bake's base image) must be of an architecture its
/// instance type runs, and so must the builder's: an arm64 type (t4g, m7g) cannot boot an x86_64
/// image, and RunInstances says so only at launch. `architectures`: image -> architecture;
/// `runs`: instance type -> the architectures it runs.
fn check_architectures(
    loaded: &LoadedProfile,
    base_image: Option<&str>,
    group_base_images: &BTreeMap<String, String>,
    architectures: &BTreeMap<String, String>,
    runs: &BTreeMap<String, Vec<String>>,
) -> Result<(), Failure> {
    let mut errors = Vec::new();
    for (group, at, node) in loaded.profile.node_tables() {
        let base = match group {
            None => base_image,
            Some(name) => group_base_images.get(name).map(String::as_str),
        };
        // The image the group's instances run: its own, else what its bake starts from.
        let Some(image) = node.image.as_deref().or(base) else {
            continue;
        };
        let Some(architecture) = architectures.get(image) else {
            continue;
        };
        let mut check = |key: String, instance_type: &str| {
            if let Some(supported) = runs.get(instance_type)
                && !supported.contains(architecture)
            {
                errors.push(
                    loaded
                        .error_at(
                            &key,
                            format!(
                                "{instance_type} runs {}, but image {image} is {architecture}",
                                supported.join(", ")
                            ),
                        )
                        .with_hint(if architecture == "arm64" {
                            "choose a Graviton type (t4g, m7g, c7g, ...) or an x86_64 image"
                        } else {
                            "choose an x86_64 type (t3, m6i, c6i, ...) or an arm64 image"
                        }),
                );
            }
        };
        check(format!("{at}.instance_type"), &node.instance_type);
        if let Some(bake) = &node.bake {
            check(format!("{at}.bake.instance_type"), &bake.instance_type);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::Profile(crate::profile::error::ProfileErrors(
            errors,
        )))
    }
}

/// A certificate ELB cannot use (not ISSUED) is an error at its listener; one that expires within
/// 30 days is a warning; otherwise a note says which domain the listener serves.
fn certificate_problem(
    loaded: &LoadedProfile,
    key: &str,
    arn: &str,
    certificate: &crate::resources::load_balancer::Certificate,
    now: i64,
) -> Option<crate::profile::error::ProfileError> {
    const DAY: i64 = 24 * 60 * 60;
    if certificate.status != "ISSUED" {
        let hint = if certificate.status == "PENDING_VALIDATION" {
            "ACM issues it once its validation (the DNS record or the e-mail) is done: run again then"
        } else {
            "request or import a certificate, and put its ARN here"
        };
        return Some(
            loaded
                .error_at(
                    key,
                    format!(
                        "certificate {arn} ({}) is {}, not ISSUED: the load balancer cannot use it",
                        certificate.domain, certificate.status
                    ),
                )
                .with_hint(hint),
        );
    }
    let expires = certificate.not_after.map(|at| (at - now) / DAY);
    let text = match expires {
        Some(days) if days < 30 => {
            crate::render::errors::warning(
                &loaded
                    .error_at(
                        key,
                        format!(
                            "the certificate for {} expires in {days} day(s): renew it, or the listener serves an expired one",
                            certificate.domain
                        ),
                    )
                    .to_string(),
            );
            return None;
        }
        Some(days) => format!(
            "serves {} (ISSUED, expires in {days} days)",
            certificate.domain
        ),
        None => format!("serves {} (ISSUED)", certificate.domain),
    };
    crate::render::errors::note(&format!("note: {}", loaded.error_at(key, text)));
    None
}

/// The main group's bake base image, each extra group's by name, and the architecture of every
/// image a group runs or bakes from.
type ResolvedImages = (
    Option<String>,
    BTreeMap<String, String>,
    BTreeMap<String, String>,
);

/// Check that each node group's image exists, or resolve its bake's base image: the main
/// group's, and each extra group's by name. Each distinct image or lookup is asked for once.
async fn resolve_images(loaded: &LoadedProfile, aws: &Aws) -> Result<ResolvedImages, Failure> {
    let nodes = loaded.profile.node_tables();
    // The first node table naming each image or lookup is where an error about it points.
    let mut distinct: Vec<(&str, &crate::profile::schema::Node)> = Vec::new();
    let key = |node: &crate::profile::schema::Node| {
        serde_json::to_string(&(&node.image, node.bake.as_ref().map(|b| &b.base_image)))
            .unwrap_or_default()
    };
    for (_, at, node) in &nodes {
        if !distinct.iter().any(|(_, seen)| key(seen) == key(node)) {
            distinct.push((at, node));
        }
    }
    let each = distinct.iter().map(|(at, node)| async move {
        Ok::<_, Failure>((key(node), resolve_image(loaded, aws, node, at).await?))
    });
    let resolved: BTreeMap<String, Option<ec2::ImageFacts>> = futures::future::try_join_all(each)
        .await?
        .into_iter()
        .collect();
    let architectures = resolved
        .values()
        .flatten()
        .filter_map(|image| Some((image.id.clone(), image.architecture.clone()?)))
        .collect();
    let mut main = None;
    let mut groups = BTreeMap::new();
    for (group, _, node) in &nodes {
        // A bake's base image; a group with its own image has none.
        let base = resolved
            .get(&key(node))
            .cloned()
            .flatten()
            .filter(|_| node.image.is_none())
            .map(|image| image.id);
        match (group, base) {
            (None, base) => main = base,
            (Some(name), Some(base)) => {
                groups.insert(name.to_string(), base);
            }
            (Some(_), None) => {}
        }
    }
    Ok((main, groups, architectures))
}

/// Check that the node image exists, or resolve the bake's base image (the newest match of a
/// lookup). Returns the image the group runs or bakes from. `at` is the node table's key.
async fn resolve_image(
    loaded: &LoadedProfile,
    aws: &Aws,
    node: &crate::profile::schema::Node,
    at: &str,
) -> Result<Option<ec2::ImageFacts>, Failure> {
    let missing = |key: &str, message: String, hint: &str| {
        Failure::Profile(
            loaded
                .error_at(&format!("{at}.{key}"), message)
                .with_hint(hint)
                .into(),
        )
    };
    match (&node.image, &node.bake) {
        (Some(image), _) => match ec2::image_facts(aws, image).await? {
            Some(found) => Ok(Some(found)),
            None => Err(missing(
                "image",
                format!(
                    "image {image} does not exist in {} (or is not visible to this account)",
                    aws.region
                ),
                "give an AMI id from this region",
            )),
        },
        (None, Some(bake)) => match ec2::resolve_base_image(aws, &bake.base_image).await? {
            Some(found) => Ok(Some(found)),
            None => Err(match &bake.base_image {
                BaseImage::Id(id) => missing(
                    "bake.base_image",
                    format!(
                        "image {id} does not exist in {} (or is not visible to this account)",
                        aws.region
                    ),
                    "give an AMI id from this region, or a lookup { owner, name }",
                ),
                BaseImage::Lookup(lookup) => missing(
                    "bake.base_image",
                    format!(
                        "no available image of owner {} matches `{}` in {}",
                        lookup.owner, lookup.name, aws.region
                    ),
                    "check the owner and the name pattern (* and ? are wildcards)",
                ),
            }),
        },
        (None, None) => Ok(None),
    }
}

/// Everything plan and apply need. With `lock_for`, the stack's lock is taken (for that
/// command) before the live state is read, and is held in `Prepared::lock`.
pub async fn prepare(global: &Global, lock_for: Option<&str>) -> Result<Prepared, Failure> {
    let (loaded, aws) = load_and_connect(global).await?;
    let environment = environment(&loaded, &aws).await?;
    let desired = build(&loaded, &environment)?;
    let lock = match lock_for {
        Some(command) => Some(take_lock(&aws, &desired.stack, command).await?),
        None => None,
    };
    let observed = match observe(&aws, &desired.names(), &environment.vpc_id).await {
        Ok(observed) => observed,
        Err(error) => {
            release(lock).await;
            return Err(error.into());
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
