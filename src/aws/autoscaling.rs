//! Auto Scaling: the group that runs the nodes from the launch template behind the load balancer.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{Filter, LaunchTemplateSpecification, Tag};
use serde_json::{Map, json};

use super::{Aws, AwsError, fail, tag_map};
use crate::plan::observed::{ObservedResource, Outputs, Status};
use crate::stack::attributes::sorted;
use crate::stack::capacity::{RollState, versions_summary};
use crate::stack::naming::{TAG_APPLIED, TAG_COMPONENT, TAG_ROLL, TAG_SCALE};
use crate::stack::spec::{GroupSpec, Kind, ResourceId};

/// One instance of the group, as the group sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub instance_id: String,
    pub zone: String,
    pub lifecycle: String,
    pub health: String,
    pub launch_template_version: Option<String>,
}

pub async fn observe(aws: &Aws, name: &str) -> Result<Option<ObservedResource>, AwsError> {
    Ok(describe(aws, name).await?.map(|(resource, _)| resource))
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
    let Some(group) = found.auto_scaling_groups().first() else {
        return Ok(None);
    };
    let template = group.launch_template();
    let mut a = Map::new();
    a.insert("min_size".into(), json!(group.min_size()));
    a.insert("max_size".into(), json!(group.max_size()));
    a.insert("desired_capacity".into(), json!(group.desired_capacity()));
    a.insert("health_check_type".into(), json!(group.health_check_type()));
    a.insert(
        "health_check_grace_period".into(),
        json!(group.health_check_grace_period()),
    );
    a.insert(
        "subnets".into(),
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
        "load_balancers".into(),
        sorted(group.load_balancer_names().iter().cloned()),
    );
    a.insert(
        "launch_template".into(),
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
        "instances".into(),
        json!(versions_summary(
            &running,
            template.and_then(|t| t.version())
        )),
    );
    let mut versions = running.clone();
    versions.sort();
    versions.dedup();
    a.insert("instance_versions".into(), json!(versions));
    let tags = tag_map(group.tags().iter().map(|t| (t.key(), t.value())));
    a.insert("scale_override".into(), json!(tags.get(TAG_SCALE)));
    if let Some(roll) = tags.get(TAG_ROLL).and_then(|t| RollState::parse(t)) {
        // A roll in progress inflates the group; what it returns to is the group's capacity.
        a.insert("desired_capacity".into(), json!(roll.desired));
        a.insert("max_size".into(), json!(roll.max));
        a.insert("rolling".into(), json!(roll.to_string()));
    }
    a.insert(
        "termination_policies".into(),
        json!(group.termination_policies().join(", ")),
    );
    a.insert(
        "instance_warmup".into(),
        json!(group.default_instance_warmup()),
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
    Ok(Some((
        ObservedResource {
            id: ResourceId::new(Kind::AutoScalingGroup, name),
            physical_id: group.auto_scaling_group_arn().unwrap_or(name).to_string(),
            tags,
            attributes: a,
            status,
            outputs: Outputs::default(),
        },
        members,
    )))
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
fn health_check_type(spec: &GroupSpec) -> &'static str {
    if spec.load_balancer.is_some() {
        "ELB"
    } else {
        "EC2"
    }
}

fn template(spec: &GroupSpec, version: i64) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .launch_template_name(&spec.launch_template)
        .version(version.to_string())
        .build()
}

/// Create the group (or adopt and update the one a previous run created).
pub async fn create(
    aws: &Aws,
    name: &str,
    spec: &GroupSpec,
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
            match observe(aws, name).await? {
                Some(live) if super::same_owner(&live, tags) => {
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
pub async fn update(
    aws: &Aws,
    name: &str,
    spec: &GroupSpec,
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
    if has("launch_template") {
        request = request.launch_template(template(spec, version));
        any = true;
    }
    if has("min_size") || has("max_size") || has("desired_capacity") {
        request = request
            .min_size(capacity.min)
            .max_size(capacity.max)
            .desired_capacity(capacity.desired);
        any = true;
    }
    if has("termination_policies") {
        request = request.set_termination_policies(Some(spec.termination_policies.clone()));
        any = true;
    }
    if has("instance_warmup") {
        // AWS turns the warm-up off with -1.
        request = request.default_instance_warmup(spec.instance_warmup.unwrap_or(-1));
        any = true;
    }
    if has("subnets") {
        request = request.vpc_zone_identifier(spec.subnets.join(","));
        any = true;
    }
    if has("health_check_type") || has("health_check_grace_period") {
        request = request
            .health_check_type(health_check_type(spec))
            .health_check_grace_period(spec.health_check_grace_period);
        any = true;
    }
    if any {
        request.send().await.map_err(fail(what.clone()))?;
    }
    if has("load_balancers") {
        // Detach whatever is attached and attach the stack's load balancer: a load balancer
        // created again under the group gets the group's instances registered this way.
        let attached: Vec<String> = observe(aws, name)
            .await?
            .and_then(|live| live.attributes.get("load_balancers").cloned())
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
pub async fn delete(aws: &Aws, name: &str) -> Result<bool, AwsError> {
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
pub async fn tagged(aws: &Aws, stack: &str) -> Result<Vec<(String, String)>, AwsError> {
    let found = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .filters(
            Filter::builder()
                .name(format!("tag:{}", crate::stack::naming::TAG_STACK))
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
