//! Calls for Auto Scaling groups: the groups and their instances, create, update (capacity,
//! launch template version, load balancers), delete, and the calls a roll is made of.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{Filter, LaunchTemplateSpecification, Tag};
use serde_json::{Map, json};

use super::capacity::{RollState, versions_summary};
use super::*;
use crate::aws::{Aws, AwsError, fail, tag_map};
use crate::ids::tags::{TAG_APPLIED, TAG_COMPONENT, TAG_ROLL, TAG_SCALE};
use crate::resources::attributes::sorted;
use crate::resources::observed::{ObservedResource, Outputs, Status};

/// One instance of the group, as the group sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub instance_id: String,
    pub zone: String,
    pub lifecycle: String,
    pub health: String,
    pub launch_template_version: Option<String>,
}

/// The groups among `names` that exist, with their instances: one request (AWS leaves out the
/// names that do not exist).
pub(super) async fn describe_many(
    aws: &Aws,
    names: &[String],
) -> Result<Vec<(ObservedResource, Vec<Member>)>, AwsError> {
    let mut groups = Vec::new();
    // AWS takes up to 50 names a request, and answers in pages.
    for chunk in names.chunks(50) {
        let mut token: Option<String> = None;
        loop {
            let found = aws
                .autoscaling
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(chunk.to_vec()))
                .max_records(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(fail("describe the auto scaling groups"))?;
            groups.extend(found.auto_scaling_groups().iter().map(group_of));
            token = found.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(groups)
}

/// The group and its instances.
pub async fn describe(
    aws: &Aws,
    name: &str,
) -> Result<Option<(ObservedResource, Vec<Member>)>, AwsError> {
    let found = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(fail(format!("describe auto scaling group {name}")))?;
    Ok(found.auto_scaling_groups().first().map(group_of))
}

fn group_of(
    group: &aws_sdk_autoscaling::types::AutoScalingGroup,
) -> (ObservedResource, Vec<Member>) {
    let template = group.launch_template();
    let mut a = Map::new();
    a.insert(MIN_SIZE.into(), json!(group.min_size()));
    a.insert(MAX_SIZE.into(), json!(group.max_size()));
    a.insert(DESIRED_CAPACITY.into(), json!(group.desired_capacity()));
    a.insert(HEALTH_CHECK_TYPE.into(), json!(group.health_check_type()));
    a.insert(
        HEALTH_CHECK_GRACE_PERIOD.into(),
        json!(group.health_check_grace_period()),
    );
    a.insert(
        SUBNETS.into(),
        sorted(
            group
                .vpc_zone_identifier()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        ),
    );
    a.insert(
        LOAD_BALANCERS.into(),
        sorted(group.load_balancer_names().iter().cloned()),
    );
    a.insert(
        LAUNCH_TEMPLATE.into(),
        json!(template.map(|t| format!(
            "{} v{}",
            t.launch_template_name().unwrap_or_default(),
            t.version().unwrap_or("$Default")
        ))),
    );
    let running: Vec<String> = group
        .instances()
        .iter()
        .filter(|i| {
            !i.lifecycle_state()
                .is_some_and(|s| s.as_str().starts_with("Terminat"))
        })
        .filter_map(|i| i.launch_template().and_then(|t| t.version()))
        .map(str::to_string)
        .collect();
    a.insert(
        INSTANCES.into(),
        json!(versions_summary(
            &running,
            template.and_then(|t| t.version())
        )),
    );
    let mut versions = running.clone();
    versions.sort();
    versions.dedup();
    a.insert(INSTANCE_VERSIONS.into(), json!(versions));
    let tags = tag_map(group.tags().iter().map(|t| (t.key(), t.value())));
    a.insert(SCALE_OVERRIDE.into(), json!(tags.get(TAG_SCALE)));
    if let Some(roll) = tags.get(TAG_ROLL).and_then(|t| RollState::parse(t)) {
        // A roll in progress inflates the group; what it returns to is the group's capacity.
        a.insert(DESIRED_CAPACITY.into(), json!(roll.desired));
        a.insert(MAX_SIZE.into(), json!(roll.max));
        a.insert(ROLLING.into(), json!(roll.to_string()));
    }
    a.insert(
        TERMINATION_POLICIES.into(),
        json!(group.termination_policies().join(", ")),
    );
    a.insert(
        INSTANCE_WARMUP.into(),
        json!(group.default_instance_warmup()),
    );
    a.insert(
        METRICS.into(),
        sorted(
            group
                .enabled_metrics()
                .iter()
                .filter_map(|m| m.metric().map(str::to_string)),
        ),
    );
    let status = match group.status() {
        Some(s) if s.to_ascii_lowercase().contains("delete") => Status::Deleting(s.to_string()),
        _ => Status::Ready,
    };
    let members = group
        .instances()
        .iter()
        .map(|i| Member {
            instance_id: i.instance_id().unwrap_or_default().to_string(),
            zone: i.availability_zone().unwrap_or_default().to_string(),
            lifecycle: i
                .lifecycle_state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            health: i.health_status().unwrap_or_default().to_string(),
            launch_template_version: i
                .launch_template()
                .and_then(|t| t.version())
                .map(str::to_string),
        })
        .collect();
    let name = group.auto_scaling_group_name().unwrap_or_default();
    (
        ObservedResource {
            id: ResourceId::new(KIND, name),
            physical_id: group.auto_scaling_group_arn().unwrap_or(name).to_string(),
            tags,
            attributes: a,
            status,
            outputs: Outputs::default(),
        },
        members,
    )
}

fn group_tags(name: &str, tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(k)
                .value(v)
                // Instances carry the launch template's tags; the group's own component tag
                // stays on the group.
                .propagate_at_launch(k != TAG_COMPONENT && k != TAG_APPLIED && k != "Name")
                .build()
        })
        .collect()
}

/// A group behind a load balancer takes its health checks; one without is checked by EC2.
fn health_check_type(spec: &Spec) -> &'static str {
    if spec.load_balancer.is_some() {
        "ELB"
    } else {
        "EC2"
    }
}

fn template(spec: &Spec, version: i64) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .launch_template_name(&spec.launch_template)
        .version(version.to_string())
        .build()
}

/// Create the group (or adopt and update the one a previous run created).
pub(super) async fn create(
    aws: &Aws,
    name: &str,
    spec: &Spec,
    version: i64,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let created = aws
        .autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_template(template(spec, version))
        .min_size(spec.min)
        .max_size(spec.max)
        .desired_capacity(spec.desired)
        .vpc_zone_identifier(spec.subnets.join(","))
        .set_load_balancer_names(spec.load_balancer.clone().map(|lb| vec![lb]))
        .health_check_type(health_check_type(spec))
        .health_check_grace_period(spec.health_check_grace_period)
        .set_termination_policies(Some(spec.termination_policies.clone()))
        .set_default_instance_warmup(spec.instance_warmup)
        .set_tags(Some(group_tags(name, tags)))
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("create auto scaling group {name}"))(error);
            if !error.is("AlreadyExists") {
                return Err(error);
            }
            match describe(aws, name).await?.map(|(live, _)| live) {
                Some(live) if crate::aws::same_owner(&live, tags) => {
                    let all: Vec<String> = live.attributes.keys().cloned().collect();
                    let capacity = Capacity {
                        min: spec.min,
                        max: spec.max,
                        desired: spec.desired,
                    };
                    update(aws, name, spec, version, capacity, &all).await
                }
                _ => Err(error),
            }
        }
    }
}

/// A group's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

/// Apply the changed attributes. `capacity` is what the plan decided: the profile's, or the one
/// `deployer scale` set, with the live desired capacity unless it falls outside min..max.
pub(super) async fn update(
    aws: &Aws,
    name: &str,
    spec: &Spec,
    version: i64,
    capacity: Capacity,
    changed: &[String],
) -> Result<(), AwsError> {
    let has = |a: &str| changed.iter().any(|c| c == a);
    let what = format!("update auto scaling group {name}");
    let mut request = aws
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name);
    let mut any = false;
    if has(LAUNCH_TEMPLATE) {
        request = request.launch_template(template(spec, version));
        any = true;
    }
    if has(MIN_SIZE) || has(MAX_SIZE) || has(DESIRED_CAPACITY) {
        request = request
            .min_size(capacity.min)
            .max_size(capacity.max)
            .desired_capacity(capacity.desired);
        any = true;
    }
    if has(TERMINATION_POLICIES) {
        request = request.set_termination_policies(Some(spec.termination_policies.clone()));
        any = true;
    }
    if has(INSTANCE_WARMUP) {
        // AWS turns the warm-up off with -1.
        request = request.default_instance_warmup(spec.instance_warmup.unwrap_or(-1));
        any = true;
    }
    if has(SUBNETS) {
        request = request.vpc_zone_identifier(spec.subnets.join(","));
        any = true;
    }
    if has(HEALTH_CHECK_TYPE) || has(HEALTH_CHECK_GRACE_PERIOD) {
        request = request
            .health_check_type(health_check_type(spec))
            .health_check_grace_period(spec.health_check_grace_period);
        any = true;
    }
    if any {
        request.send().await.map_err(fail(what.clone()))?;
    }
    if has(METRICS) {
        let enabled: Vec<String> = describe(aws, name)
            .await?
            .and_then(|(live, _)| live.attributes.get(METRICS).cloned())
            .and_then(|names| serde_json::from_value(names).ok())
            .unwrap_or_default();
        collect_metrics(aws, name, &spec.metrics, &enabled).await?;
    }
    if has(LOAD_BALANCERS) {
        // Detach whatever is attached and attach the stack's load balancer: a load balancer
        // created again under the group gets the group's instances registered this way.
        let attached: Vec<String> = describe(aws, name)
            .await?
            .and_then(|(live, _)| live.attributes.get(LOAD_BALANCERS).cloned())
            .and_then(|names| serde_json::from_value(names).ok())
            .unwrap_or_default();
        if !attached.is_empty() {
            aws.autoscaling
                .detach_load_balancers()
                .auto_scaling_group_name(name)
                .set_load_balancer_names(Some(attached))
                .send()
                .await
                .map_err(fail(what.clone()))?;
        }
        if let Some(load_balancer) = &spec.load_balancer {
            aws.autoscaling
                .attach_load_balancers()
                .auto_scaling_group_name(name)
                .load_balancer_names(load_balancer)
                .send()
                .await
                .map_err(fail(what))?;
        }
    }
    Ok(())
}

/// Delete the group and its instances. `Ok(false)` while AWS is still busy with it.
pub(super) async fn delete(aws: &Aws, name: &str) -> Result<bool, AwsError> {
    match aws
        .autoscaling
        .delete_auto_scaling_group()
        .auto_scaling_group_name(name)
        .force_delete(true)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(error) => {
            let error = fail(format!("delete auto scaling group {name}"))(error);
            if error.is("ResourceInUse") || error.is("ScalingActivityInProgress") {
                Ok(false)
            } else if error.is("ValidationError") && error.message.contains("not found") {
                Ok(true)
            } else {
                Err(error)
            }
        }
    }
}

/// Groups tagged for the stack, for destroy's final scan.
pub(super) async fn tagged(aws: &Aws, stack: &str) -> Result<Vec<(String, String)>, AwsError> {
    let found = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .filters(
            Filter::builder()
                .name(format!("tag:{}", crate::ids::tags::TAG_STACK))
                .values(stack)
                .build(),
        )
        .send()
        .await
        .map_err(fail("scan auto scaling groups"))?;
    Ok(found
        .auto_scaling_groups()
        .iter()
        .map(|g| {
            let name = g.auto_scaling_group_name().unwrap_or_default();
            (format!("auto scaling group {name}"), name.to_string())
        })
        .collect())
}

/// Set the group's size (only the given parts).
pub async fn set_capacity(
    aws: &Aws,
    name: &str,
    min: Option<i32>,
    max: Option<i32>,
    desired: Option<i32>,
) -> Result<(), AwsError> {
    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .set_min_size(min)
        .set_max_size(max)
        .set_desired_capacity(desired)
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("resize auto scaling group {name}")))
}

/// Point the group at a launch template version.
pub async fn set_version(
    aws: &Aws,
    name: &str,
    template_name: &str,
    version: i64,
) -> Result<(), AwsError> {
    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(template_name)
                .version(version.to_string())
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!(
            "point auto scaling group {name} at launch template version {version}"
        )))
}

/// Terminate one instance of the group and lower its desired capacity by one.
pub async fn terminate_member(aws: &Aws, instance: &str) -> Result<(), AwsError> {
    match aws
        .autoscaling
        .terminate_instance_in_auto_scaling_group()
        .instance_id(instance)
        .should_decrement_desired_capacity(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("terminate instance {instance}"))(error);
            // Already gone (or already terminating) is what was wanted.
            if error.is("ValidationError") && error.message.contains("not found") {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}

/// Remove one tag from the group.
pub async fn delete_tag(aws: &Aws, name: &str, key: &str) -> Result<(), AwsError> {
    aws.autoscaling
        .delete_tags()
        .tags(
            Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(key)
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("untag auto scaling group {name}")))
}

/// Suspend or resume some of the group's processes.
pub async fn processes(
    aws: &Aws,
    name: &str,
    processes: &[&str],
    suspend: bool,
) -> Result<(), AwsError> {
    let names: Vec<String> = processes.iter().map(|p| p.to_string()).collect();
    let verb = if suspend { "suspend" } else { "resume" };
    // The two calls take the same arguments but are distinct SDK types.
    macro_rules! send {
        ($request:expr) => {
            $request
                .auto_scaling_group_name(name)
                .set_scaling_processes(Some(names))
                .send()
                .await
                .map(|_| ())
                .map_err(fail(format!(
                    "{verb} processes of auto scaling group {name}"
                )))
        };
    }
    if suspend {
        send!(aws.autoscaling.suspend_processes())
    } else {
        send!(aws.autoscaling.resume_processes())
    }
}

/// Set one tag on the group (not on its instances).
pub async fn set_tag(aws: &Aws, name: &str, key: &str, value: &str) -> Result<(), AwsError> {
    aws.autoscaling
        .create_or_update_tags()
        .tags(
            Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(key)
                .value(value)
                .propagate_at_launch(false)
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("tag auto scaling group {name}")))
}

/// Have the group publish `wanted` each minute, and stop publishing the rest of `enabled`.
pub async fn collect_metrics(
    aws: &Aws,
    name: &str,
    wanted: &[String],
    enabled: &[String],
) -> Result<(), AwsError> {
    if !wanted.is_empty() {
        aws.autoscaling
            .enable_metrics_collection()
            .auto_scaling_group_name(name)
            .set_metrics(Some(wanted.to_vec()))
            .granularity("1Minute")
            .send()
            .await
            .map_err(fail(format!("have group {name} publish its metrics")))?;
    }
    let unwanted: Vec<String> = enabled
        .iter()
        .filter(|m| !wanted.contains(m))
        .cloned()
        .collect();
    if !unwanted.is_empty() {
        aws.autoscaling
            .disable_metrics_collection()
            .auto_scaling_group_name(name)
            .set_metrics(Some(unwanted))
            .send()
            .await
            .map_err(fail(format!("stop group {name}'s metrics")))?;
    }
    Ok(())
}
