//! The account's quotas and what uses them in the region: Service Quotas for the values, each
//! service's own listing for the use. Read only for a plan that creates something.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;

use super::{Aws, AwsError, every_item, fail};
use crate::ids::tags::TAG_STACK;
use crate::resources::quota::{Quota, standard_family};
use crate::stack::quotas::{Limit, Reading};

/// The account's value of `quota` in the region: the applied value, AWS's default for a quota the
/// account never had changed, or (when Service Quotas cannot be read) AWS's default, assumed.
pub async fn limit(aws: &Aws, quota: Quota) -> Limit {
    let Some((service, code)) = quota.codes() else {
        return Limit::Known(quota.aws_default());
    };
    let applied = aws
        .quotas
        .get_service_quota()
        .service_code(service)
        .quota_code(code)
        .send()
        .await
        .map_err(fail(format!("read quota {service}/{code}")));
    match applied {
        Ok(answer) => {
            if let Some(value) = answer.quota().and_then(|q| q.value()) {
                return Limit::Known(value);
            }
        }
        // A quota the account never had changed may have no applied value (the Terraform
        // provider reads the default then, too).
        Err(error) if error.is("NoSuchResourceException") => {}
        Err(error) => return Limit::Assumed(error.message),
    }
    let default = aws
        .quotas
        .get_aws_default_service_quota()
        .service_code(service)
        .quota_code(code)
        .send()
        .await
        .map_err(fail(format!("read the default of quota {service}/{code}")));
    match default.map(|answer| answer.quota().and_then(|q| q.value())) {
        Ok(Some(value)) => Limit::Known(value),
        Ok(None) => Limit::Assumed("Service Quotas gave no value".into()),
        Err(error) => Limit::Assumed(error.message),
    }
}

/// The account's value of `quota` and what uses it in the region (and, of that, `stack`'s own).
/// `vcpus`: the vCPUs of instance types already known (those of the profile).
pub async fn reading(
    aws: &Aws,
    quota: Quota,
    stack: &str,
    vcpus: &BTreeMap<String, u32>,
) -> Result<Reading, AwsError> {
    let (limit, used) = tokio::join!(limit(aws, quota), usage(aws, quota, stack, vcpus));
    let (used, stack_used) = used?;
    Ok(Reading {
        limit,
        used,
        stack_used,
    })
}

/// What uses `quota` in the region now: (the account's, `stack`'s own).
async fn usage(
    aws: &Aws,
    quota: Quota,
    stack: &str,
    vcpus: &BTreeMap<String, u32>,
) -> Result<(u64, u64), AwsError> {
    let what = format!("count the region's {}", quota.unit());
    let count = |n: usize| Ok((n as u64, 0));
    match quota {
        Quota::ClassicLoadBalancers => {
            count(every_item!(aws.elb.describe_load_balancers(), what)?.len())
        }
        Quota::AutoScalingGroups => count(
            every_item!(
                aws.autoscaling
                    .describe_auto_scaling_groups()
                    .max_records(100),
                what
            )?
            .len(),
        ),
        Quota::LaunchTemplates => {
            count(every_item!(aws.ec2.describe_launch_templates().max_results(200), what)?.len())
        }
        Quota::DbInstances => {
            count(every_item!(aws.rds.describe_db_instances().max_records(100), what)?.len())
        }
        Quota::CacheNodes => {
            let clusters = every_item!(
                aws.elasticache.describe_cache_clusters().max_records(100),
                what
            )?;
            Ok((
                clusters
                    .iter()
                    .map(|c| c.num_cache_nodes().unwrap_or(1).max(0) as u64)
                    .sum(),
                0,
            ))
        }
        Quota::StandardVcpus => running_vcpus(aws, stack, vcpus).await,
        Quota::Vpcs => count(every_item!(aws.ec2.describe_vpcs(), what)?.len()),
        Quota::InternetGateways => {
            count(every_item!(aws.ec2.describe_internet_gateways(), what)?.len())
        }
        Quota::ElasticIps => count(
            aws.ec2
                .describe_addresses()
                .send()
                .await
                .map_err(fail(what))?
                .addresses()
                .len(),
        ),
    }
}

/// The vCPUs of the region's pending and running On-Demand instances of the standard families
/// (each its type's vCPUs, from `vcpus` or DescribeInstanceTypes): (the account's, `stack`'s own).
async fn running_vcpus(
    aws: &Aws,
    stack: &str,
    vcpus: &BTreeMap<String, u32>,
) -> Result<(u64, u64), AwsError> {
    let reservations = every_item!(
        aws.ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            )
            .max_results(1000),
        "count the region's running instances"
    )?;
    // (type, whether it is the stack's)
    let instances: Vec<(String, bool)> = reservations
        .iter()
        .flat_map(|r| r.instances())
        // Spot and Capacity Block instances count against quotas of their own.
        .filter(|i| i.instance_lifecycle().is_none())
        .filter_map(|i| {
            let instance_type = i.instance_type()?.as_str().to_string();
            let ours = i
                .tags()
                .iter()
                .any(|t| t.key() == Some(TAG_STACK) && t.value() == Some(stack));
            Some((instance_type, ours))
        })
        .filter(|(instance_type, _)| standard_family(instance_type))
        .collect();
    let unknown: BTreeSet<String> = instances
        .iter()
        .filter(|(t, _)| !vcpus.contains_key(t))
        .map(|(t, _)| t.clone())
        .collect();
    let mut known = vcpus.clone();
    if !unknown.is_empty() {
        known.extend(
            super::ec2::type_facts(aws, &unknown)
                .await?
                .into_iter()
                .map(|(t, facts)| (t, facts.vcpus)),
        );
    }
    let (mut all, mut ours) = (0u64, 0u64);
    for (instance_type, is_ours) in instances {
        let n = known.get(&instance_type).copied().unwrap_or(0) as u64;
        all += n;
        if is_ours {
            ours += n;
        }
    }
    Ok((all, ours))
}
