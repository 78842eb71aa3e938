//! The stack lock: one apply, destroy, scale or bake per stack at a time, held in the cloud as an
//! SSM parameter that is created with overwrite off (so exactly one creator wins). It names its
//! holder and expires unless its holder renews it, so the lock of a killed run can be taken over.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_ssm::types::{ParameterType, Tag};
use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::{Aws, AwsError, fail, unless_absent};
use crate::ids::tags::TAG_STACK;

/// What the lock parameter holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Who: `user@host pid N`.
    pub holder: String,
    /// The holder's machine and process, to tell a dead holder on this machine.
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub pid: u32,
    pub command: String,
    /// Unique per run: tells our own lock from anyone else's.
    pub token: String,
    pub since: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

impl LockRecord {
    pub fn expired(&self) -> bool {
        self.expires < Utc::now()
    }

    /// Whether the holder was a process of this machine that no longer runs (killed, crashed):
    /// its lock need not wait for the expiry.
    pub fn holder_is_dead(&self) -> bool {
        self.pid != 0
            && self.host == hostname()
            && self.pid != std::process::id()
            && cfg!(target_os = "linux")
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    /// Whether the holder is a process of this machine that still runs: removing its lock
    /// would let a second run change the stack beside it.
    pub fn holder_is_alive(&self) -> bool {
        self.pid != 0
            && self.host == hostname()
            && cfg!(target_os = "linux")
            && std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    /// `apply by alice@build-1 pid 4242 since 12:00:00 UTC (expires 12:05:00 UTC)`.
    pub fn describe(&self) -> String {
        format!(
            "`{}` by {} since {} (expires {})",
            self.command,
            self.holder,
            self.since.format("%Y-%m-%d %H:%M:%S UTC"),
            self.expires.format("%H:%M:%S UTC")
        )
    }
}

#[derive(Debug)]
pub enum LockError {
    /// Someone else holds it.
    Held(LockRecord),
    Aws(AwsError),
}

impl From<AwsError> for LockError {
    fn from(error: AwsError) -> Self {
        LockError::Aws(error)
    }
}

/// A held lock: renewed in the background until released.
pub struct Lock {
    aws: Aws,
    stack: String,
    token: String,
    renewer: JoinHandle<()>,
    /// Set when an expired lock of someone else's was taken over.
    pub took_over: Option<LockRecord>,
}

/// The lock parameter of a stack.
pub fn parameter(stack: &str) -> String {
    format!("/deployer/{stack}/lock")
}

/// When a lock taken or renewed now expires.
fn expiry(ttl: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5))
}

/// How long a lock lives without renewal: `DEPLOYER_LOCK_TTL` seconds, else five minutes.
pub fn ttl() -> Duration {
    std::env::var("DEPLOYER_LOCK_TTL")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(300))
        .max(Duration::from_secs(1))
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// The user running deployer: `$USER` (`$USERNAME`), else what `id -un` says (CI runners and
/// containers often set no `$USER`), else the numeric uid.
fn user() -> String {
    let from_env = ["USER", "USERNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|user| !user.trim().is_empty());
    if let Some(user) = from_env {
        return user;
    }
    let from_id = |args: &[&str]| {
        std::process::Command::new("id")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    from_id(&["-un"])
        .or_else(|| from_id(&["-u"]).map(|uid| format!("uid {uid}")))
        .unwrap_or_else(|| "unknown user".into())
}

fn holder() -> String {
    format!("{}@{} pid {}", user(), hostname(), std::process::id())
}

/// The locks this process holds (stack, token), so that a quick exit can give them back.
fn held() -> &'static Mutex<Vec<(Aws, String, String)>> {
    static HELD: OnceLock<Mutex<Vec<(Aws, String, String)>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(Vec::new()))
}

fn forget(token: &str) {
    if let Ok(mut held) = held().lock() {
        held.retain(|(_, _, t)| t != token);
    }
}

/// Give back every lock this process still holds (a second Ctrl-C, a closed stdout): what
/// exits without going back through the command's own release.
pub async fn release_held() {
    let locks: Vec<_> = held()
        .lock()
        .map(|mut held| std::mem::take(&mut *held))
        .unwrap_or_default();
    for (aws, stack, token) in locks {
        let _ = delete_if(&aws, &stack, &token).await;
    }
}

/// The current lock of `stack`, if any.
pub async fn read(aws: &Aws, stack: &str) -> Result<Option<LockRecord>, AwsError> {
    Ok(read_versioned(aws, stack).await?.map(|(record, _)| record))
}

/// The current lock of `stack` and the parameter's version (each write adds one; a parameter
/// deleted and written again starts over at 1).
async fn read_versioned(aws: &Aws, stack: &str) -> Result<Option<(LockRecord, i64)>, AwsError> {
    let name = parameter(stack);
    let found = aws
        .ssm
        .get_parameter()
        .name(&name)
        .send()
        .await
        .map_err(fail(format!("read the lock {name}")));
    Ok(
        unless_absent(found, "ParameterNotFound")?.and_then(|found| {
            let parameter = found.parameter()?;
            let record = serde_json::from_str(parameter.value()?).ok()?;
            Some((record, parameter.version()))
        }),
    )
}

/// Write the lock; returns the parameter's new version.
async fn put(
    aws: &Aws,
    stack: &str,
    record: &LockRecord,
    overwrite: bool,
) -> Result<i64, AwsError> {
    let name = parameter(stack);
    let mut request = aws
        .ssm
        .put_parameter()
        .name(&name)
        .value(serde_json::to_string(record).expect("lock record serializes"))
        .r#type(ParameterType::String)
        .overwrite(overwrite)
        .description("deployer: who is changing this stack");
    if !overwrite {
        // Tags may only accompany a creation.
        request = request.tags(
            Tag::builder()
                .key(TAG_STACK)
                .value(stack)
                .build()
                .map_err(|e| AwsError::other("build the lock's tags", e.to_string()))?,
        );
    }
    request
        .send()
        .await
        .map(|written| written.version())
        .map_err(fail(format!("take the lock {name}")))
}

/// Take the stack's lock for `command`, or say who holds it. An expired lock is taken over.
pub async fn acquire(aws: &Aws, stack: &str, command: &str) -> Result<Lock, LockError> {
    let ttl = ttl();
    let token = Alphanumeric.sample_string(&mut rand::rng(), 24);
    let record = LockRecord {
        holder: holder(),
        host: hostname(),
        pid: std::process::id(),
        command: command.to_string(),
        token: token.clone(),
        since: Utc::now(),
        expires: expiry(ttl),
    };
    let held = |took_over| {
        if let Ok(mut held) = held().lock() {
            held.push((aws.clone(), stack.to_string(), token.clone()));
        }
        Lock {
            aws: aws.clone(),
            stack: stack.to_string(),
            token: token.clone(),
            renewer: renew(aws.clone(), stack.to_string(), record.clone(), ttl),
            took_over,
        }
    };
    let mut took_over = None;
    for _ in 0..3 {
        match put(aws, stack, &record, false).await {
            Ok(_) => return Ok(held(took_over)),
            Err(error) if error.is("ParameterAlreadyExists") => {
                match read(aws, stack).await? {
                    // A retried put whose first attempt went through: the lock is ours.
                    Some(current) if current.token == token => return Ok(held(took_over)),
                    Some(current) if !current.expired() && !current.holder_is_dead() => {
                        return Err(LockError::Held(current));
                    }
                    Some(current) => {
                        delete_if(aws, stack, &current.token).await?;
                        took_over = Some(current);
                    }
                    // Released between our put and our read: try again.
                    None => {}
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    match read(aws, stack).await? {
        Some(current) => Err(LockError::Held(current)),
        None => Err(LockError::Aws(AwsError::other(
            format!("take the lock of stack {stack}"),
            "the lock kept changing hands; try again",
        ))),
    }
}

/// Delete the lock parameter if it still holds `token`.
async fn delete_if(aws: &Aws, stack: &str, token: &str) -> Result<(), AwsError> {
    if read(aws, stack).await?.is_some_and(|r| r.token == token) {
        delete(aws, stack).await?;
    }
    Ok(())
}

async fn delete(aws: &Aws, stack: &str) -> Result<(), AwsError> {
    let name = parameter(stack);
    let deleted = aws
        .ssm
        .delete_parameter()
        .name(&name)
        .send()
        .await
        .map_err(fail(format!("release the lock {name}")));
    unless_absent(deleted, "ParameterNotFound").map(|_| ())
}

/// Renew the lock every third of its lifetime while we hold it.
fn renew(aws: Aws, stack: String, record: LockRecord, ttl: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(ttl / 3).await;
            let lost = match read_versioned(&aws, &stack).await {
                Ok(Some((current, version))) if current.token == record.token => {
                    let renewed = LockRecord {
                        expires: expiry(ttl),
                        ..record.clone()
                    };
                    match put(&aws, &stack, &renewed, true).await {
                        // Removed (or written) between the read and this write, which then
                        // made the lock anew: give that back rather than hold it unawares.
                        Ok(written) if written != version + 1 => {
                            let _ = delete_if(&aws, &stack, &record.token).await;
                            Some("removed (deployer unlock?)".to_string())
                        }
                        // A failed renewal is tried again at the next turn.
                        _ => None,
                    }
                }
                Ok(Some((current, _))) => Some(format!("taken over by {}", current.describe())),
                Ok(None) => Some("removed (deployer unlock?)".to_string()),
                Err(_) => None,
            };
            if let Some(by) = lost {
                crate::render::errors::warning(&format!(
                    "the lock of stack {stack} was {by} while this run held it: starting no new step; \
                     what is running finishes"
                ));
                forget(&record.token);
                crate::interrupt::stop(crate::interrupt::Signal::LockLost);
                return;
            }
        }
    })
}

impl Lock {
    /// Give the lock back (only if it is still ours).
    pub async fn release(self) -> Result<(), AwsError> {
        self.renewer.abort();
        forget(&self.token);
        delete_if(&self.aws, &self.stack, &self.token).await
    }
}

/// Remove the lock `seen` (`deployer unlock`), whoever holds it; not a lock taken since.
/// Returns what was removed.
pub async fn force_unlock(
    aws: &Aws,
    stack: &str,
    seen: &LockRecord,
) -> Result<Option<LockRecord>, AwsError> {
    match read(aws, stack).await? {
        Some(current) if current.token == seen.token => {
            delete(aws, stack).await?;
            Ok(Some(current))
        }
        _ => Ok(None),
    }
}
