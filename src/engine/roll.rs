//! Rolling replacement: instances on an older launch template version are replaced batch by
//! batch. Each batch surges first (new instances join, and must be InService on the load
//! balancer) and only then removes as many old ones, so the group never has fewer healthy
//! instances than it wants. A batch that does not become healthy in time is rolled back: the
//! group returns to the old version and its old capacity. The roll is recorded on the group, so
//! an interrupted one is resumed by the next apply.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{Context, duration_text};
use crate::aws::autoscaling::{self, Member};
use crate::aws::stack::set_tag;
use crate::aws::{AwsError, elb};
use crate::profile::scaling::roll_batch_size;
use crate::stack::capacity::RollState;
use crate::stack::naming::TAG_ROLL;
use crate::stack::spec::{GroupSpec, ResourceId};

/// How the given instances are doing: on the group's load balancer, or, for a group without one,
/// in the group itself (InService and healthy by EC2's checks).
async fn health_of(
    aws: &crate::aws::Aws,
    group: &GroupSpec,
    members: &[Member],
    instances: &[String],
) -> Result<Vec<elb::InstanceHealth>, AwsError> {
    match &group.load_balancer {
        Some(load_balancer) => elb::instance_health(aws, load_balancer, instances).await,
        None => Ok(members
            .iter()
            .filter(|m| instances.contains(&m.instance_id))
            .map(|m| elb::InstanceHealth {
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
}

fn active(member: &Member) -> bool {
    !member.lifecycle.starts_with("Terminat")
}

fn on_version(member: &Member, version: i64) -> bool {
    member.launch_template_version.as_deref() == Some(version.to_string().as_str())
}

/// Replace every instance of the group not on `version`. Returns when all run it.
pub async fn roll(
    context: &Context<'_>,
    id: &ResourceId,
    group: &GroupSpec,
    version: i64,
) -> Result<(), AwsError> {
    let aws = context.aws;
    let name = &id.name;
    let what = format!("roll {id} to launch template version {version}");
    let Some((live, members)) = autoscaling::describe(aws, name).await? else {
        return Err(AwsError::other(what, "the group does not exist"));
    };
    // What the group returns to: recorded by a roll this one resumes, else the live group (the
    // observation already reports a recorded roll's capacity).
    let number = |key: &str| {
        live.attributes
            .get(key)
            .and_then(|v| v.as_i64())
            .unwrap_or(0) as i32
    };
    let (desired, max) = (number("desired_capacity"), number("max_size"));
    let old: Vec<&Member> = members
        .iter()
        .filter(|m| active(m) && !on_version(m, version))
        .collect();
    if old.is_empty() {
        return finish(context, name, desired, max).await;
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
    set_tag(aws, id, name, TAG_ROLL, &state.to_string()).await?;
    settle(context, id, group, name, &members, desired, version).await?;

    let batch = roll_batch_size(&group.roll_batch, desired.max(1)).unwrap_or(1);
    let batches = old.len().div_ceil(batch as usize);
    let timeout = Duration::from_secs(group.roll_timeout_seconds);
    for number in 1..=batches {
        let Some((_, members)) = autoscaling::describe(aws, name).await? else {
            return Err(AwsError::other(
                what,
                "the group disappeared during the roll",
            ));
        };
        let old: Vec<String> = members
            .iter()
            .filter(|m| active(m) && !on_version(m, version))
            .map(|m| m.instance_id.clone())
            .collect();
        if old.is_empty() {
            break;
        }
        let size = (batch as usize).min(old.len()) as i32;
        let label = format!("rolling to v{version}: batch {number} of {batches}");
        let before: BTreeSet<String> = members.iter().map(|m| m.instance_id.clone()).collect();
        // Surge: raise max if the extra instances need it, then ask for them.
        let surged = desired + size;
        if surged > max {
            autoscaling::set_capacity(aws, name, None, Some(surged), None).await?;
        }
        autoscaling::set_capacity(aws, name, None, None, Some(surged)).await?;
        context
            .progress
            .status(id, &format!("{label}: starting {size} new instance(s)"));
        match wait_healthy(
            context, id, group, name, version, &before, size, timeout, &label,
        )
        .await
        {
            Ok(()) => {}
            Err(failure) => {
                roll_back(context, id, group, &state, &before).await?;
                return Err(AwsError::other(
                    what,
                    format!(
                        "{failure}. Rolled back: the group runs launch template version {} again, with {} instance(s) and max {}",
                        state.from, state.desired, state.max
                    ),
                ));
            }
        }
        // The new instances serve: remove as many old ones (the load balancer drains them).
        for instance in old.iter().take(size as usize) {
            context
                .progress
                .status(id, &format!("{label}: retiring {instance}"));
            autoscaling::terminate_member(aws, instance).await?;
        }
        wait_size(context, id, name, desired, &label).await?;
    }
    finish(context, name, desired, max).await
}

/// A roll interrupted mid-batch leaves the group bigger than it wants: drop the new instances
/// that are not healthy first, then old ones, until it is back to `desired`.
async fn settle(
    context: &Context<'_>,
    id: &ResourceId,
    group: &GroupSpec,
    name: &str,
    members: &[Member],
    desired: i32,
    version: i64,
) -> Result<(), AwsError> {
    let aws = context.aws;
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
        health_of(aws, group, members, &new)
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
        context.progress.status(
            id,
            &format!("resuming an interrupted roll: retiring {instance}"),
        );
        autoscaling::terminate_member(aws, &instance).await?;
        excess -= 1;
    }
    wait_size(context, id, name, desired, "resuming an interrupted roll").await
}

/// Restore the group's max (the surge may have raised it) and forget the roll.
async fn finish(context: &Context<'_>, name: &str, desired: i32, max: i32) -> Result<(), AwsError> {
    let aws = context.aws;
    let Some((live, _)) = autoscaling::describe(aws, name).await? else {
        return Ok(());
    };
    if live.attributes.get("rolling").is_some() {
        autoscaling::set_capacity(aws, name, None, Some(max), Some(desired)).await?;
        autoscaling::delete_tag(aws, name, TAG_ROLL).await?;
    }
    Ok(())
}

/// Polls in a row that must see the new instances InService: one sighting could be a blip.
const HEALTHY_POLLS: u32 = 2;

/// Wait until `size` instances launched after `before` run `version` and are InService on the
/// load balancer (on consecutive polls). Err carries what failed (instance ids and reasons).
#[allow(clippy::too_many_arguments)]
async fn wait_healthy(
    context: &Context<'_>,
    id: &ResourceId,
    group: &GroupSpec,
    name: &str,
    version: i64,
    before: &BTreeSet<String>,
    size: i32,
    timeout: Duration,
    label: &str,
) -> Result<(), String> {
    let aws = context.aws;
    let begun = Instant::now();
    let mut streak = 0;
    let mut ticks = super::wait::pace(context);
    loop {
        let (members, health) = match autoscaling::describe(aws, name).await {
            Ok(Some((_, members))) => {
                let new: Vec<String> = members
                    .iter()
                    .filter(|m| {
                        active(m) && on_version(m, version) && !before.contains(&m.instance_id)
                    })
                    .map(|m| m.instance_id.clone())
                    .collect();
                let health = if new.is_empty() {
                    Ok(vec![])
                } else {
                    health_of(aws, group, &members, &new).await
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
            context.progress.status(
                id,
                &format!("{label}: {healthy}/{size} new instance(s) healthy"),
            );
            if begun.elapsed() >= timeout {
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
                    duration_text(timeout),
                    details.join("; "),
                ));
            }
        }
        ticks.tick().await;
    }
}

/// Put the group back: the old version, the new instances gone, the old capacity.
async fn roll_back(
    context: &Context<'_>,
    id: &ResourceId,
    group: &GroupSpec,
    state: &RollState,
    before: &BTreeSet<String>,
) -> Result<(), AwsError> {
    let aws = context.aws;
    let name = &id.name;
    context.progress.status(
        id,
        &format!("rolling back to launch template version {}", state.from),
    );
    autoscaling::set_version(aws, name, &group.launch_template, state.from).await?;
    if let Some((_, members)) = autoscaling::describe(aws, name).await? {
        for member in members
            .iter()
            .filter(|m| active(m) && !before.contains(&m.instance_id))
        {
            autoscaling::terminate_member(aws, &member.instance_id).await?;
        }
    }
    autoscaling::set_capacity(aws, name, None, Some(state.max), Some(state.desired)).await?;
    autoscaling::delete_tag(aws, name, TAG_ROLL).await
}

/// Wait until the group is back to `desired` active instances.
async fn wait_size(
    context: &Context<'_>,
    id: &ResourceId,
    name: &str,
    desired: i32,
    label: &str,
) -> Result<(), AwsError> {
    super::wait::retry(
        context,
        id,
        &format!("{label}: old instances draining"),
        || async {
            let members = autoscaling::describe(context.aws, name)
                .await?
                .map(|(_, members)| members)
                .unwrap_or_default();
            Ok(members.iter().filter(|m| active(m)).count() as i32 <= desired)
        },
    )
    .await
}
