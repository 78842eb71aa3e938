//! Waiters: poll at a steady interval until a resource is ready, gone, or an action succeeds.
//! A transient error means "poll again", never "the resource failed".

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Context, duration_text};
use crate::aws::AwsError;
use crate::aws::stack::observe_one;
use crate::plan::observed::{ObservedResource, Status};
use crate::stack::spec::{Kind, ResourceId};

/// How long a resource may take before deployer gives up waiting.
pub fn timeout_for(kind: Kind) -> Duration {
    match kind {
        // Multi-AZ RDS takes 15-20 minutes, a replication group up to 40.
        Kind::Database | Kind::Cache => Duration::from_secs(90 * 60),
        // Imaging takes up to ~30 minutes for big volumes.
        Kind::Image => Duration::from_secs(60 * 60),
        Kind::AutoScalingGroup => Duration::from_secs(20 * 60),
        _ => Duration::from_secs(15 * 60),
    }
}

/// The pace of a wait's polls: one every poll interval, counted from the start of the previous
/// one, so the time a poll takes does not push the next one back (readiness is seen within one
/// interval). The first poll is the caller's, at once.
pub fn pace(context: &Context<'_>) -> tokio::time::Interval {
    let period = context.options.poll_interval.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// Consecutive failed polls tolerated before the error counts.
const TRANSIENT_LIMIT: u32 = 5;

fn timed_out(id: &ResourceId, waited: Duration, last: &str) -> AwsError {
    AwsError::other(
        format!("wait for {id}"),
        format!(
            "still {last} after {}; it may still finish: run the same command again to resume",
            duration_text(waited)
        ),
    )
}

/// Poll until `id` is ready; fails if AWS reports it failed.
pub async fn until_ready(
    context: &Context<'_>,
    id: &ResourceId,
) -> Result<ObservedResource, AwsError> {
    let begun = Instant::now();
    let limit = timeout_for(id.kind);
    let mut errors = 0;
    let mut last = String::from("not visible yet");
    let mut ticks = pace(context);
    loop {
        match observe_one(context.aws, id, &context.names(), context.vpc_id()).await {
            Ok(Some(resource)) => {
                errors = 0;
                match &resource.status {
                    Status::Ready => return Ok(resource),
                    Status::Failed(state) => {
                        return Err(AwsError::other(
                            format!("wait for {id}"),
                            format!("AWS reports it {state}"),
                        ));
                    }
                    Status::Pending(state) | Status::Deleting(state) => last = state.clone(),
                }
            }
            Ok(None) => errors = 0,
            Err(error) => {
                errors += 1;
                if errors > TRANSIENT_LIMIT {
                    return Err(error);
                }
                last = format!("{last} (polling again after: {})", error.message);
            }
        }
        if begun.elapsed() > limit {
            return Err(timed_out(id, begun.elapsed(), &last));
        }
        context.progress.status(id, &format!("waiting: {last}"));
        ticks.tick().await;
    }
}

/// Poll until `id` no longer exists.
pub async fn until_gone(context: &Context<'_>, id: &ResourceId) -> Result<(), AwsError> {
    let begun = Instant::now();
    let limit = timeout_for(id.kind);
    let mut errors = 0;
    let mut last = String::from("deleting");
    let mut ticks = pace(context);
    loop {
        match observe_one(context.aws, id, &context.names(), context.vpc_id()).await {
            Ok(None) => return Ok(()),
            Ok(Some(resource)) => {
                errors = 0;
                if let Status::Pending(state) | Status::Deleting(state) | Status::Failed(state) =
                    &resource.status
                {
                    last = state.clone();
                }
            }
            Err(error) => {
                errors += 1;
                if errors > TRANSIENT_LIMIT {
                    return Err(error);
                }
            }
        }
        if begun.elapsed() > limit {
            return Err(timed_out(id, begun.elapsed(), &last));
        }
        context.progress.status(id, &format!("waiting: {last}"));
        ticks.tick().await;
    }
}

/// Repeat `attempt` until it reports done (`Ok(true)`), e.g. deleting a security group while
/// network interfaces drain.
pub async fn retry<F, Fut>(
    context: &Context<'_>,
    id: &ResourceId,
    waiting_for: &str,
    mut attempt: F,
) -> Result<(), AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, AwsError>>,
{
    let begun = Instant::now();
    let limit = timeout_for(id.kind);
    let mut ticks = pace(context);
    loop {
        if attempt().await? {
            return Ok(());
        }
        if begun.elapsed() > limit {
            return Err(timed_out(id, begun.elapsed(), waiting_for));
        }
        context
            .progress
            .status(id, &format!("waiting: {waiting_for}"));
        ticks.tick().await;
    }
}
