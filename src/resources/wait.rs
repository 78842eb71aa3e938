//! Waiters: poll at a steady interval until a resource is ready, gone, or an action succeeds.
//! A transient error means "poll again", never "the resource failed". What "ready" and "gone"
//! mean is the kind's: the status its observation reports.

use std::future::Future;
use std::time::{Duration, Instant};

use super::observed::{ObservedResource, Status};
use super::{Handler, Scope};
use crate::aws::AwsError;
use crate::ids::ResourceId;
use crate::render::progress::Progress;

/// What a wait needs: where to look, the kind's handler, where to report, how often to poll.
#[derive(Clone, Copy)]
pub struct Waiter<'a> {
    pub scope: Scope<'a>,
    pub handler: &'a dyn Handler,
    pub progress: &'a Progress,
    pub poll_interval: Duration,
}

/// The pace of a wait's polls: one every poll interval, counted from the start of the previous
/// one, so the time a poll takes does not push the next one back (readiness is seen within one
/// interval). The first poll is the caller's, at once.
pub fn pace(poll_interval: Duration) -> tokio::time::Interval {
    let period = poll_interval.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// Wait for the next poll, or give the wait up when the run is told to stop (Ctrl-C, SIGTERM,
/// the lock lost): what is waited for goes on in AWS, and the next run picks it up.
pub async fn next_poll(
    ticks: &mut tokio::time::Interval,
    id: &ResourceId,
    waiting_for: &str,
) -> Result<(), AwsError> {
    tokio::select! {
        biased;
        signal = crate::interrupt::stopped() => Err(abandoned(id, waiting_for, signal)),
        _ = ticks.tick() => Ok(()),
    }
}

/// The error of a wait given up because the run was told to stop.
pub fn abandoned(id: &ResourceId, waiting_for: &str, signal: crate::interrupt::Signal) -> AwsError {
    let mut error = AwsError::other(
        format!("wait for {id}"),
        format!(
            "left waiting ({waiting_for}): the run was {}",
            signal.describe()
        ),
    )
    .with_hint("the same command picks the wait up again");
    error.code = Some(ABANDONED.into());
    error
}

/// The code of a wait given up on an interrupt.
pub const ABANDONED: &str = "Abandoned";

/// Consecutive failed polls tolerated before the error counts.
const TRANSIENT_LIMIT: u32 = 5;

/// A wait's duration for messages: `12.3s`, `4m05s`.
pub fn duration_text(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{:.1}s", elapsed.as_secs_f64())
    }
}

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
    waiter: Waiter<'_>,
    id: &ResourceId,
) -> Result<ObservedResource, AwsError> {
    let begun = Instant::now();
    let limit = waiter.handler.about().wait_limit;
    let mut errors = 0;
    let mut last = String::from("not visible yet");
    let mut ticks = pace(waiter.poll_interval);
    loop {
        match waiter.handler.observe_one(waiter.scope, id).await {
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
        waiter.progress.status(id, &format!("waiting: {last}"));
        next_poll(&mut ticks, id, &last).await?;
    }
}

/// Poll until `id` no longer exists.
pub async fn until_gone(waiter: Waiter<'_>, id: &ResourceId) -> Result<(), AwsError> {
    let begun = Instant::now();
    let limit = waiter.handler.about().wait_limit;
    let mut errors = 0;
    let mut last = String::from("deleting");
    let mut ticks = pace(waiter.poll_interval);
    loop {
        match waiter.handler.observe_one(waiter.scope, id).await {
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
        waiter.progress.status(id, &format!("waiting: {last}"));
        next_poll(&mut ticks, id, &last).await?;
    }
}

/// Repeat `attempt` until it reports done (`Ok(true)`), e.g. deleting a security group while
/// network interfaces drain.
pub async fn retry<F, Fut>(
    waiter: Waiter<'_>,
    id: &ResourceId,
    waiting_for: &str,
    mut attempt: F,
) -> Result<(), AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, AwsError>>,
{
    let begun = Instant::now();
    let limit = waiter.handler.about().wait_limit;
    let mut ticks = pace(waiter.poll_interval);
    loop {
        if attempt().await? {
            return Ok(());
        }
        if begun.elapsed() > limit {
            return Err(timed_out(id, begun.elapsed(), waiting_for));
        }
        waiter
            .progress
            .status(id, &format!("waiting: {waiting_for}"));
        next_poll(&mut ticks, id, waiting_for).await?;
    }
}
