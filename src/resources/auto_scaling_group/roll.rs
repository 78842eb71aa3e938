//! Rolling replacement: instances on an older launch template version are replaced batch by
//! batch. Each batch surges first (new instances join, and must be InService on the load
//! balancer) and only then removes as many old ones, so the group never has fewer healthy
//! instances than it wants. A batch that does not become healthy in time is rolled back: the
//! group returns to the old version and its old capacity. The roll is recorded on the group, so
//! an interrupted one is resumed by the next apply.
//!
//! The roll drives a [`Fleet`]: the group's calls, on AWS or (in tests) in memory.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::calls::{self, Member};
use super::capacity::RollState;
use crate::aws::{Aws, AwsError};
use crate::ids::ResourceId;
use crate::ids::tags::TAG_ROLL;
use crate::profile::values::RollBatch;
use crate::render::progress::Progress;
use crate::resources::load_balancer::{self, InstanceHealth};
use crate::resources::wait::{duration_text, pace};

/// The group as a roll sees it: its capacity to return to, whether a roll is recorded, and its
/// instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub desired: i32,
    pub max: i32,
    /// A roll recorded on the group (one this roll resumes).
    pub rolling: bool,
    pub members: Vec<Member>,
}

/// The calls a roll makes on one group.
pub trait Fleet: Sync {
    /// The group now (None once it is gone). A recorded roll's capacity is what it returns to.
    fn describe(&self) -> BoxFuture<'_, Result<Option<Group>, AwsError>>;
    /// Set the group's max and/or desired capacity.
    fn resize(&self, max: Option<i32>, desired: Option<i32>)
    -> BoxFuture<'_, Result<(), AwsError>>;
    /// How the given instances are doing: InService or not, and why.
    fn health<'a>(
        &'a self,
        members: &'a [Member],
        instances: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<InstanceHealth>, AwsError>>;
    /// Terminate one instance and lower the desired capacity by one.
    fn retire<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Point the group at a launch template version.
    fn point_at(&self, version: i64) -> BoxFuture<'_, Result<(), AwsError>>;
    /// Record the roll on the group (None forgets it).
    fn record<'a>(&'a self, roll: Option<&'a RollState>) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Suspend (true) or resume (false) the group's `processes`.
    fn processes<'a>(
        &'a self,
        processes: &'a [&'a str],
        suspend: bool,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
}

/// What Auto Scaling must not do while a roll replaces instances, as AWS advises for a
/// replacement it does not drive itself: rebalance zones (terminating instances the roll
/// counts), replace instances on alarm notifications, or run scheduled capacity changes.
pub const SUSPENDED: &[&str] = &["AZRebalance", "AlarmNotification", "ScheduledActions"];

/// How a roll goes: batch size, how long a batch may take to become healthy, and where it
/// reports.
pub struct Roll<'a> {
    pub id: &'a ResourceId,
    pub batch: &'a RollBatch,
    pub timeout: Duration,
    pub progress: &'a Progress,
    pub poll_interval: Duration,
}

fn active(member: &Member) -> bool {
    !member.lifecycle.starts_with("Terminat")
}

fn on_version(member: &Member, version: i64) -> bool {
    member.launch_template_version.as_deref() == Some(version.to_string().as_str())
}

/// Replace every instance of the group not on `version`. Returns when all run it. The group's
/// [`SUSPENDED`] processes are suspended while instances are replaced and resumed after, also
/// after a rollback, and by the next roll when an earlier one was killed half-way.
pub async fn roll(fleet: &dyn Fleet, roll: &Roll<'_>, version: i64) -> Result<(), AwsError> {
    let result = replace(fleet, roll, version).await;
    let resumed = fleet.processes(SUSPENDED, false).await;
    result.and(resumed)
}

async fn replace(fleet: &dyn Fleet, roll: &Roll<'_>, version: i64) -> Result<(), AwsError> {
    let id = roll.id;
    let what = format!("roll {id} to launch template version {version}");
    let Some(live) = fleet.describe().await? else {
        return Err(AwsError::other(what, "the group does not exist"));
    };
    // What the group returns to: recorded by a roll this one resumes, else the live group.
    let (desired, max) = (live.desired, live.max);
    let old: Vec<&Member> = live
        .members
        .iter()
        .filter(|m| active(m) && !on_version(m, version))
        .collect();
    if old.is_empty() {
        return finish(fleet, desired, max).await;
    }
    let from = old
        .iter()
        .filter_map(|m| m.launch_template_version.as_deref()?.parse::<i64>().ok())
        .max()
        .unwrap_or(version - 1);
    let state = RollState {
        desired,
        max,
        from,
        to: version,
    };
    fleet.record(Some(&state)).await?;
    fleet.processes(SUSPENDED, true).await?;
    settle(fleet, roll, &live.members, desired, version).await?;

    let batch = roll.batch.size(desired);
    let batches = old.len().div_ceil(batch as usize);
    for number in 1..=batches {
        let Some(now) = fleet.describe().await? else {
            return Err(AwsError::other(
                what,
                "the group disappeared during the roll",
            ));
        };
        let old: Vec<String> = now
            .members
            .iter()
            .filter(|m| active(m) && !on_version(m, version))
            .map(|m| m.instance_id.clone())
            .collect();
        if old.is_empty() {
            break;
        }
        let size = (batch as usize).min(old.len()) as i32;
        let label = format!("rolling to v{version}: batch {number} of {batches}");
        let before: BTreeSet<String> = now.members.iter().map(|m| m.instance_id.clone()).collect();
        // Surge: raise max if the extra instances need it, then ask for them.
        let surged = desired + size;
        if surged > max {
            fleet.resize(Some(surged), None).await?;
        }
        fleet.resize(None, Some(surged)).await?;
        roll.progress
            .status(id, &format!("{label}: starting {size} new instance(s)"));
        if let Err(failure) = wait_healthy(fleet, roll, version, &before, size, &label).await {
            roll_back(fleet, roll, &state, &before).await?;
            return Err(AwsError::other(
                what,
                format!(
                    "{failure}. Rolled back: the group runs launch template version {} again, with {} instance(s) and max {}",
                    state.from, state.desired, state.max
                ),
            ));
        }
        // The new instances serve: remove as many old ones (the load balancer drains them).
        for instance in old.iter().take(size as usize) {
            roll.progress
                .status(id, &format!("{label}: retiring {instance}"));
            fleet.retire(instance).await?;
        }
        wait_size(fleet, roll, desired, &label).await?;
    }
    finish(fleet, desired, max).await
}

/// A roll interrupted mid-batch leaves the group bigger than it wants: drop the new instances
/// that are not healthy first, then old ones, until it is back to `desired`.
async fn settle(
    fleet: &dyn Fleet,
    roll: &Roll<'_>,
    members: &[Member],
    desired: i32,
    version: i64,
) -> Result<(), AwsError> {
    let active: Vec<&Member> = members.iter().filter(|m| active(m)).collect();
    let mut excess = active.len().saturating_sub(desired.max(0) as usize);
    if excess == 0 {
        return Ok(());
    }
    let new: Vec<String> = active
        .iter()
        .filter(|m| on_version(m, version))
        .map(|m| m.instance_id.clone())
        .collect();
    let healthy: BTreeSet<String> = if new.is_empty() {
        BTreeSet::new()
    } else {
        fleet
            .health(members, &new)
            .await?
            .into_iter()
            .filter(|h| h.in_service())
            .map(|h| h.instance_id)
            .collect()
    };
    let unhealthy_new = new.iter().filter(|i| !healthy.contains(*i)).cloned();
    let old = active
        .iter()
        .filter(|m| !on_version(m, version))
        .map(|m| m.instance_id.clone());
    for instance in unhealthy_new.chain(old).collect::<Vec<_>>() {
        if excess == 0 {
            break;
        }
        roll.progress.status(
            roll.id,
            &format!("resuming an interrupted roll: retiring {instance}"),
        );
        fleet.retire(&instance).await?;
        excess -= 1;
    }
    wait_size(fleet, roll, desired, "resuming an interrupted roll").await
}

/// Restore the group's max (the surge may have raised it) and forget the roll.
async fn finish(fleet: &dyn Fleet, desired: i32, max: i32) -> Result<(), AwsError> {
    let Some(live) = fleet.describe().await? else {
        return Ok(());
    };
    if live.rolling {
        fleet.resize(Some(max), Some(desired)).await?;
        fleet.record(None).await?;
    }
    Ok(())
}

/// Polls in a row that must see the new instances InService: one sighting could be a blip.
const HEALTHY_POLLS: u32 = 2;

/// Wait until `size` instances launched after `before` run `version` and are InService on the
/// load balancer (on consecutive polls). Err carries what failed (instance ids and reasons).
async fn wait_healthy(
    fleet: &dyn Fleet,
    roll: &Roll<'_>,
    version: i64,
    before: &BTreeSet<String>,
    size: i32,
    label: &str,
) -> Result<(), String> {
    let begun = Instant::now();
    let mut streak = 0;
    let mut ticks = pace(roll.poll_interval);
    loop {
        let (members, health) = match fleet.describe().await {
            Ok(Some(group)) => {
                let new: Vec<String> = group
                    .members
                    .iter()
                    .filter(|m| {
                        active(m) && on_version(m, version) && !before.contains(&m.instance_id)
                    })
                    .map(|m| m.instance_id.clone())
                    .collect();
                let health = if new.is_empty() {
                    Ok(vec![])
                } else {
                    fleet.health(&group.members, &new).await
                };
                (new, health)
            }
            Ok(None) => return Err("the group disappeared during the roll".into()),
            Err(error) => (vec![], Err(error)),
        };
        if let Ok(health) = &health {
            let healthy = health.iter().filter(|h| h.in_service()).count();
            if healthy as i32 >= size {
                streak += 1;
                if streak >= HEALTHY_POLLS {
                    return Ok(());
                }
            } else {
                streak = 0;
            }
            roll.progress.status(
                roll.id,
                &format!("{label}: {healthy}/{size} new instance(s) healthy"),
            );
            if begun.elapsed() >= roll.timeout {
                let details: Vec<String> = if health.is_empty() {
                    vec![format!("{} launched, none registered yet", members.len())]
                } else {
                    health
                        .iter()
                        .filter(|h| !h.in_service())
                        .map(|h| match &h.reason {
                            Some(reason) => format!("{} {}: {reason}", h.instance_id, h.state),
                            None => format!("{} {}", h.instance_id, h.state),
                        })
                        .collect()
                };
                return Err(format!(
                    "the new instances did not pass the load balancer's health check within {} ({})",
                    duration_text(roll.timeout),
                    details.join("; "),
                ));
            }
        }
        ticks.tick().await;
    }
}

/// Put the group back: the old version, the new instances gone, the old capacity.
async fn roll_back(
    fleet: &dyn Fleet,
    roll: &Roll<'_>,
    state: &RollState,
    before: &BTreeSet<String>,
) -> Result<(), AwsError> {
    roll.progress.status(
        roll.id,
        &format!("rolling back to launch template version {}", state.from),
    );
    fleet.point_at(state.from).await?;
    if let Some(group) = fleet.describe().await? {
        for member in group
            .members
            .iter()
            .filter(|m| active(m) && !before.contains(&m.instance_id))
        {
            fleet.retire(&member.instance_id).await?;
        }
    }
    fleet.resize(Some(state.max), Some(state.desired)).await?;
    fleet.record(None).await
}

/// Wait until the group is back to `desired` active instances.
async fn wait_size(
    fleet: &dyn Fleet,
    roll: &Roll<'_>,
    desired: i32,
    label: &str,
) -> Result<(), AwsError> {
    let begun = Instant::now();
    let mut ticks = pace(roll.poll_interval);
    let waiting_for = format!("{label}: old instances draining");
    loop {
        let members = fleet
            .describe()
            .await?
            .map(|group| group.members)
            .unwrap_or_default();
        if members.iter().filter(|m| active(m)).count() as i32 <= desired {
            return Ok(());
        }
        if begun.elapsed() > super::WAIT_LIMIT {
            return Err(AwsError::other(
                format!("wait for {}", roll.id),
                format!(
                    "still {waiting_for} after {}; it may still finish: run the same command again to resume",
                    duration_text(begun.elapsed())
                ),
            ));
        }
        roll.progress
            .status(roll.id, &format!("waiting: {waiting_for}"));
        ticks.tick().await;
    }
}

/// A group on AWS.
pub struct AwsFleet<'a> {
    pub aws: &'a Aws,
    pub name: &'a str,
    pub launch_template: &'a str,
    /// The group's load balancer, whose health checks count; None: the group's own (EC2).
    pub load_balancer: Option<&'a str>,
}

impl Fleet for AwsFleet<'_> {
    fn describe(&self) -> BoxFuture<'_, Result<Option<Group>, AwsError>> {
        Box::pin(async move {
            Ok(calls::describe(self.aws, self.name)
                .await?
                .map(|(live, members)| {
                    let number = |key: &str| {
                        live.attributes
                            .get(key)
                            .and_then(|v| v.as_i64())
                            .unwrap_or(0) as i32
                    };
                    Group {
                        desired: number(super::DESIRED_CAPACITY),
                        max: number(super::MAX_SIZE),
                        rolling: live.attributes.get(super::ROLLING).is_some(),
                        members,
                    }
                }))
        })
    }

    fn resize(
        &self,
        max: Option<i32>,
        desired: Option<i32>,
    ) -> BoxFuture<'_, Result<(), AwsError>> {
        Box::pin(calls::set_capacity(self.aws, self.name, None, max, desired))
    }

    fn health<'a>(
        &'a self,
        members: &'a [Member],
        instances: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<InstanceHealth>, AwsError>> {
        Box::pin(async move {
            match self.load_balancer {
                Some(load_balancer) => {
                    load_balancer::instance_health(self.aws, load_balancer, instances).await
                }
                None => Ok(members
                    .iter()
                    .filter(|m| instances.contains(&m.instance_id))
                    .map(|m| InstanceHealth {
                        instance_id: m.instance_id.clone(),
                        state: if m.lifecycle == "InService" && m.health == "Healthy" {
                            "InService".into()
                        } else {
                            format!("{} ({})", m.lifecycle, m.health)
                        },
                        reason: None,
                    })
                    .collect()),
            }
        })
    }

    fn retire<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(calls::terminate_member(self.aws, instance))
    }

    fn point_at(&self, version: i64) -> BoxFuture<'_, Result<(), AwsError>> {
        Box::pin(calls::set_version(
            self.aws,
            self.name,
            self.launch_template,
            version,
        ))
    }

    fn record<'a>(&'a self, roll: Option<&'a RollState>) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            match roll {
                Some(state) => {
                    calls::set_tag(self.aws, self.name, TAG_ROLL, &state.to_string()).await
                }
                None => calls::delete_tag(self.aws, self.name, TAG_ROLL).await,
            }
        })
    }

    fn processes<'a>(
        &'a self,
        processes: &'a [&'a str],
        suspend: bool,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(calls::processes(self.aws, self.name, processes, suspend))
    }
}

#[cfg(test)]
mod tests;
