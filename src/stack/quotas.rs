//! Whether the account's quotas hold what a plan creates. Each kind says what its resources take
//! (`ResourceKind::quota_use`); this sums, per quota, what the plan adds (for vCPUs: what the
//! stack's groups may run at their maximum, and the builders it starts) and compares it with the
//! account's quota and what the region already uses. Over the quota is refused at the profile key
//! that asks for it; at 90 % or more, a warning. A quota that could not be read is taken at AWS's
//! default, and going over that is only a warning: the account's real value may be higher.

use std::collections::BTreeMap;

use crate::plan::Plan;
use crate::profile::error::{ProfileError, ProfileErrors};
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

/// The profile key of the node table (or its group's) that `resource` belongs to, then `key`.
fn key_of(group: Option<&str>, key: &str) -> String {
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
            let key = match quota {
                Quota::ClassicLoadBalancers => key_of(resource.group.as_deref(), "load_balancer"),
                Quota::AutoScalingGroups => key_of(resource.group.as_deref(), "scaling"),
                Quota::LaunchTemplates => key_of(resource.group.as_deref(), "node"),
                Quota::DbInstances => "database".into(),
                Quota::CacheNodes => "cache".into(),
                Quota::StandardVcpus => key_of(resource.group.as_deref(), "scaling.max"),
            };
            let demand = counts.entry(quota).or_insert_with(|| Demand {
                quota,
                amount: 0,
                key,
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
    let touches = plan.steps.iter().any(|step| match step.action {
        Action::Create | Action::Replace => {
            desired.get(&step.id).is_some_and(|resource| {
                resources::handler(step.id.kind)
                    .quota_use(resource)
                    .iter()
                    .any(|u| !matches!(u, QuotaUse::Count(..)))
            }) || step.id.kind == launch_template::KIND
        }
        Action::Update => step.changes.iter().any(|c| {
            c.attribute == auto_scaling_group::MAX_SIZE
                || c.attribute == launch_template::INSTANCE_TYPE
        }),
        _ => false,
    });
    if !touches {
        return None;
    }
    let creating: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.action.creates())
        .map(|s| &s.id)
        .collect();
    let mut amount = 0u64;
    let mut parts = Vec::new();
    let mut groups = 0;
    // The group that asks for the most points the error.
    let mut largest: Option<(u64, String)> = None;
    for resource in &desired.resources {
        for used in resources::handler(resource.id.kind).quota_use(resource) {
            let (instance_type, count, what) = match used {
                QuotaUse::InstancesOf {
                    launch_template,
                    count,
                } => {
                    let Some(instance_type) = desired
                        .get(&launch_template::id(launch_template.as_str()))
                        .and_then(|lt| lt.spec::<launch_template::LaunchTemplates>().ok())
                        .map(|spec| spec.instance_type)
                    else {
                        continue;
                    };
                    let at = key_of(resource.group.as_deref(), "scaling.max");
                    (instance_type, count, format!("at {at}"))
                }
                QuotaUse::WhileCreating { instance_type } if creating.contains(&&resource.id) => {
                    (instance_type, 1, "the bake's builder".to_string())
                }
                _ => continue,
            };
            if !standard_family(&instance_type) || count == 0 {
                continue;
            }
            let each = vcpus.get(&instance_type).copied().unwrap_or(0) as u64;
            let total = each * count;
            amount += total;
            // The groups first, then the builders.
            if what.starts_with("at ") {
                parts.insert(
                    groups,
                    format!("{count} × {instance_type} ({each} vCPUs) {what}"),
                );
                groups += 1;
            } else {
                parts.push(format!("{what} {instance_type} ({each} vCPUs)"));
            }
            let key = key_of(resource.group.as_deref(), "scaling.max");
            if what.starts_with("at ") && largest.as_ref().is_none_or(|(n, _)| total > *n) {
                largest = Some((total, key));
            }
        }
    }
    Some(Demand {
        quota: Quota::StandardVcpus,
        amount,
        key: largest.map_or_else(|| "scaling.max".to_string(), |(_, key)| key),
        parts,
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
    let mut warnings: Vec<ProfileErrors> = Vec::new();
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
        let (limit, known) = match &reading.limit {
            Limit::Known(value) => (*value, true),
            Limit::Assumed(_) => (quota.aws_default(), false),
        };
        let limit_text = format_number(limit);
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
        if (after as f64) > limit {
            if known {
                errors.push(
                    loaded
                        .error_at(
                            &demand.key,
                            format!(
                                "{needs}: {after} is over the account's quota of {limit_text} in {region} ({})",
                                quota.name()
                            ),
                        )
                        .with_code("quota.exceeded")
                        .with_hint(increase_hint(quota, after)),
                );
            } else if let Limit::Assumed(why) = &reading.limit {
                warnings.push(
                    loaded
                        .error_at(
                            &demand.key,
                            format!(
                                "{needs}: {after} is over AWS's default quota of {limit_text} ({}); the account's own could not be read ({why}), and if it is not higher the apply fails part-way",
                                quota.name()
                            ),
                        )
                        .with_code("quota.unread")
                        .with_hint(increase_hint(quota, after))
                        .into(),
                );
            }
        } else if known && (after as f64) * 10.0 >= limit * 9.0 {
            warnings.push(
                loaded
                    .error_at(
                        &demand.key,
                        format!(
                            "{needs}: {after} of the account's quota of {limit_text} in {region} ({}), little room left",
                            quota.name()
                        ),
                    )
                    .with_code("quota.near")
                    .with_hint(increase_hint(quota, after))
                    .into(),
            );
        }
    }
    // A warning reads as an error does: located, with its code and hint.
    (errors, warnings.iter().map(ToString::to_string).collect())
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
