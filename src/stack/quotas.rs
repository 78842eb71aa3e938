//! Whether the account's quotas hold what a plan creates. Each kind says what its resources take
//! (`ResourceKind::quota_use`); this sums, per quota, what the plan adds (for vCPUs: what the
//! stack's groups may run at their maximum, and the builders it starts) and compares it with the
//! account's quota and what the region already uses. Over the quota is refused at the profile key
//! that asks for it; at 90 % or more, a warning. A quota that could not be read is taken at AWS's
//! default, and going over that is only a warning: the account's real value may be higher.

use std::collections::BTreeMap;

use crate::plan::Plan;
use crate::profile::error::ProfileError;
use crate::profile::load::LoadedProfile;
use crate::resources::attributes::Action;
use crate::resources::quota::{Quota, QuotaUse, standard_family};
use crate::resources::{self, auto_scaling_group, launch_template};

use super::Desired;

/// The account's value of a quota.
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    /// The account's applied value, or AWS's default for a quota the account never had changed.
    Known(f64),
    /// Not readable (why): AWS's default stands in.
    Assumed(String),
}

/// What the account has of a quota, and uses of it in the region.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub limit: Limit,
    /// In use in the region now, by the whole account.
    pub used: u64,
    /// Of `used`, what the stack's own resources take (for vCPUs: its running instances, which
    /// the plan's total stands for).
    pub stack_used: u64,
}

/// What a plan asks of one quota.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    pub quota: Quota,
    /// For a count, what the plan adds; for vCPUs, the stack's whole use once applied.
    pub amount: u64,
    /// The profile key an error about it points at.
    pub key: String,
    /// What makes up `amount`, for the message.
    pub parts: Vec<String>,
}

impl Demand {
    /// Whether `amount` stands for the stack's whole use (so replaces `Reading::stack_used`)
    /// rather than adding to what is there.
    fn is_total(&self) -> bool {
        self.quota == Quota::StandardVcpus
    }
}

/// The profile key an error about `quota` points at, for a resource of `group` (None: the main
/// node group's).
fn key_for(quota: Quota, group: Option<&str>) -> String {
    let key = match quota {
        Quota::ClassicLoadBalancers => "load_balancer",
        Quota::AutoScalingGroups => "scaling",
        Quota::LaunchTemplates => "node",
        Quota::DbInstances => return "database".into(),
        Quota::CacheNodes => return "cache".into(),
        Quota::StandardVcpus => "scaling.max",
        Quota::Vpcs | Quota::InternetGateways => return "network.vpc".into(),
        Quota::ElasticIps => return "network.nat".into(),
    };
    match group {
        Some(group) => format!("groups.{group}.{key}"),
        None => key.to_string(),
    }
}

/// What `plan` asks of each quota. `vcpus`: instance type -> vCPUs (a type not in it counts 0,
/// as an unknown type is refused by the offerings check).
pub fn demands(desired: &Desired, plan: &Plan, vcpus: &BTreeMap<String, u32>) -> Vec<Demand> {
    let mut counts: BTreeMap<Quota, Demand> = BTreeMap::new();
    for step in plan.steps.iter().filter(|s| s.action == Action::Create) {
        let Some(resource) = desired.get(&step.id) else {
            continue;
        };
        for used in resources::handler(step.id.kind).quota_use(resource) {
            let QuotaUse::Count(quota, n) = used else {
                continue;
            };
            let demand = counts.entry(quota).or_insert_with(|| Demand {
                quota,
                amount: 0,
                key: key_for(quota, resource.group.as_deref()),
                parts: Vec::new(),
            });
            demand.amount += n;
            demand.parts.push(if n == 1 {
                format!("{}", step.id)
            } else {
                format!("{} ({n})", step.id)
            });
        }
    }
    let mut demands: Vec<Demand> = counts.into_values().collect();
    demands.extend(vcpu_demand(desired, plan, vcpus));
    demands
}

/// The stack's On-Demand standard vCPUs once `plan` is applied: every group at its maximum, and
/// each builder the plan starts. None when the plan changes nothing that runs instances (no group,
/// maximum, instance type or bake), so a plan that leaves capacity alone is not held to it.
fn vcpu_demand(desired: &Desired, plan: &Plan, vcpus: &BTreeMap<String, u32>) -> Option<Demand> {
    let runs_instances = |id| {
        desired.get(id).is_some_and(|resource| {
            resources::handler(resource.id.kind)
                .quota_use(resource)
                .iter()
                .any(|u| !matches!(u, QuotaUse::Count(..)))
        })
    };
    let touches = plan.steps.iter().any(|step| {
        (step.action.creates() && runs_instances(&step.id))
            || (step.action == Action::Update
                && step.changes.iter().any(|c| {
                    c.attribute == auto_scaling_group::MAX_SIZE
                        || c.attribute == launch_template::INSTANCE_TYPE
                }))
    });
    if !touches {
        return None;
    }
    // A type's vCPUs, if it counts against this quota.
    let standard = |instance_type: &str| {
        standard_family(instance_type)
            .then(|| vcpus.get(instance_type).copied().unwrap_or(0) as u64)
    };
    let mut amount = 0u64;
    let (mut groups, mut builders) = (Vec::new(), Vec::new());
    // The group that asks for the most points the error.
    let mut largest: Option<(u64, String)> = None;
    for resource in &desired.resources {
        for used in resources::handler(resource.id.kind).quota_use(resource) {
            match used {
                QuotaUse::InstancesOf {
                    launch_template,
                    count,
                } if count > 0 => {
                    let Some(instance_type) = desired
                        .get(&launch_template::id(launch_template.as_str()))
                        .and_then(|lt| lt.spec::<launch_template::LaunchTemplates>().ok())
                        .map(|spec| spec.instance_type)
                    else {
                        continue;
                    };
                    let Some(each) = standard(&instance_type) else {
                        continue;
                    };
                    let key = key_for(Quota::StandardVcpus, resource.group.as_deref());
                    amount += each * count;
                    groups.push(format!("{count} × {instance_type} ({each} vCPUs) at {key}"));
                    if largest.as_ref().is_none_or(|(n, _)| each * count > *n) {
                        largest = Some((each * count, key));
                    }
                }
                QuotaUse::WhileCreating { instance_type }
                    if plan
                        .step(&resource.id)
                        .is_some_and(|step| step.action.creates()) =>
                {
                    let Some(each) = standard(&instance_type) else {
                        continue;
                    };
                    amount += each;
                    builders.push(format!("the bake's builder {instance_type} ({each} vCPUs)"));
                }
                _ => {}
            }
        }
    }
    groups.extend(builders);
    Some(Demand {
        quota: Quota::StandardVcpus,
        amount,
        key: largest.map_or_else(|| key_for(Quota::StandardVcpus, None), |(_, key)| key),
        parts: groups,
    })
}

/// How a quota's use after a change stands against the account's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Within,
    /// 90 % of the quota or more.
    Near,
    Over,
    /// Over AWS's default, which stands in for a quota that could not be read (why).
    OverDefault(String),
}

/// The verdict on `after` of `reading`'s quota, and the value it was judged against.
pub fn verdict(quota: Quota, reading: &Reading, after: u64) -> (Verdict, f64) {
    let (limit, unread) = match &reading.limit {
        Limit::Known(value) => (*value, None),
        Limit::Assumed(why) => (quota.aws_default(), Some(why)),
    };
    let verdict = match (after as f64 > limit, unread) {
        (true, None) => Verdict::Over,
        (true, Some(why)) => Verdict::OverDefault(why.clone()),
        (false, _) if (after as f64) * 10.0 >= limit * 9.0 => Verdict::Near,
        (false, _) => Verdict::Within,
    };
    (verdict, limit)
}

/// What the verdict says, after `needs` (what is asked, and of what), with its code: `None` when
/// there is nothing to say.
pub fn verdict_message(
    quota: Quota,
    region: &str,
    needs: &str,
    after: u64,
    (verdict, limit): &(Verdict, f64),
) -> Option<(String, &'static str)> {
    let limit = format_number(*limit);
    let name = quota.name();
    Some(match verdict {
        Verdict::Within => return None,
        Verdict::Over => (
            format!("{needs}: {after} is over the account's quota of {limit} in {region} ({name})"),
            "quota.exceeded",
        ),
        Verdict::OverDefault(why) => (
            format!(
                "{needs}: {after} is over AWS's default quota of {limit} ({name}); the account's own could not be read ({why}), and if it is not higher the apply fails part-way"
            ),
            "quota.unread",
        ),
        Verdict::Near => (
            format!(
                "{needs}: {after} of the account's quota of {limit} in {region} ({name}), little room left"
            ),
            "quota.near",
        ),
    })
}

/// What the quotas say of `demands`: the refusals, and the warnings (located, with their codes).
pub fn judge(
    loaded: &LoadedProfile,
    region: &str,
    demands: &[Demand],
    readings: &BTreeMap<Quota, Reading>,
) -> (Vec<ProfileError>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for demand in demands {
        let Some(reading) = readings.get(&demand.quota) else {
            continue;
        };
        let quota = demand.quota;
        let others = if demand.is_total() {
            reading.used.saturating_sub(reading.stack_used)
        } else {
            reading.used
        };
        let after = others + demand.amount;
        let needs = if demand.is_total() {
            format!(
                "at their maximum the stack's instances use {} {} ({}), and the rest of the account uses {others}",
                demand.amount,
                quota.unit(),
                demand.parts.join("; ")
            )
        } else {
            format!(
                "this plan adds {} ({}) to the {others} {} in use",
                demand.amount,
                demand.parts.join(", "),
                quota.unit(),
            )
        };
        let judged = verdict(quota, reading, after);
        let Some((message, code)) = verdict_message(quota, region, &needs, after, &judged) else {
            continue;
        };
        let error = loaded
            .error_at(&demand.key, message)
            .with_code(code)
            .with_hint(increase_hint(quota, after));
        if judged.0 == Verdict::Over {
            errors.push(error);
        } else {
            warnings.push(error.warning());
        }
    }
    (errors, warnings)
}

/// What the vCPU quota says of `deployer scale` raising a group's maximum to `max` instances of
/// `instance_type` (`each` vCPUs): the group at that maximum beside what the rest of the account
/// runs now (`reading.used` less the group's own `group_now`). `Err`: over the quota (message,
/// hint); `Ok(Some)`: a warning.
pub fn judge_scale(
    region: &str,
    reading: &Reading,
    (instance_type, each): (&str, u64),
    max: u64,
    group_now: u64,
) -> Result<Option<String>, (String, String)> {
    let quota = Quota::StandardVcpus;
    let others = reading.used.saturating_sub(group_now);
    let at_max = max * each;
    let after = others + at_max;
    let needs = format!(
        "at its maximum the group runs {max} × {instance_type} ({each} vCPUs): {at_max} {}, and the rest of the account uses {others}",
        quota.unit()
    );
    let judged = verdict(quota, reading, after);
    let Some((message, code)) = verdict_message(quota, region, &needs, after, &judged) else {
        return Ok(None);
    };
    let hint = increase_hint(quota, after);
    if judged.0 == Verdict::Over {
        Err((format!("{message} [{code}]"), hint))
    } else {
        Ok(Some(format!("{message} [{code}]\n  hint: {hint}")))
    }
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// How to get more of `quota` (at least `wanted`).
fn increase_hint(quota: Quota, wanted: u64) -> String {
    match quota.codes() {
        Some((service, code)) => format!(
            "lower what the profile asks, free some, or ask AWS for more: aws service-quotas request-service-quota-increase --service-code {service} --quota-code {code} --desired-value {wanted}"
        ),
        None => format!(
            "delete {} that are no longer used, or ask AWS Support for more",
            quota.unit()
        ),
    }
}

#[cfg(test)]
mod tests;
