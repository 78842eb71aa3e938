//! Auto Scaling policies and scheduled actions of the stack's group. They carry no tags of
//! their own: they belong to the stack because its group does.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{
    MetricType, PredefinedMetricSpecification, TargetTrackingConfiguration,
};
use serde_json::{Map, json};

use super::{Aws, AwsError, fail};
use crate::plan::observed::{ObservedResource, Outputs, Status};
use crate::stack::naming::TAG_STACK;
use crate::stack::spec::{Kind, PolicySpec, ResourceId, ScheduleSpec};

fn owned_by(stack: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(TAG_STACK.to_string(), stack.to_string())])
}

fn absent(error: &AwsError) -> bool {
    error.is("ValidationError") && error.message.to_ascii_lowercase().contains("not found")
}

/// The group's scaling policies.
pub async fn observe_policies(
    aws: &Aws,
    group: &str,
    stack: &str,
) -> Result<Vec<ObservedResource>, AwsError> {
    let found = match aws
        .autoscaling
        .describe_policies()
        .auto_scaling_group_name(group)
        .send()
        .await
    {
        Ok(found) => found,
        Err(error) => {
            let error = fail(format!("describe the scaling policies of {group}"))(error);
            return if absent(&error) {
                Ok(vec![])
            } else {
                Err(error)
            };
        }
    };
    Ok(found
        .scaling_policies()
        .iter()
        .map(|policy| {
            let tracking = policy.target_tracking_configuration();
            let mut a = Map::new();
            a.insert("policy_type".into(), json!(policy.policy_type()));
            a.insert(
                "metric".into(),
                json!(
                    tracking
                        .and_then(|t| t.predefined_metric_specification())
                        .and_then(|m| m.predefined_metric_type())
                        .map(|m| m.as_str())
                ),
            );
            a.insert("target".into(), json!(tracking.map(|t| t.target_value())));
            a.insert(
                "disable_scale_in".into(),
                json!(tracking.and_then(|t| t.disable_scale_in()).unwrap_or(false)),
            );
            let name = policy.policy_name().unwrap_or_default();
            ObservedResource {
                id: ResourceId::new(Kind::ScalingPolicy, name),
                physical_id: policy.policy_arn().unwrap_or(name).to_string(),
                tags: owned_by(stack),
                attributes: a,
                status: Status::Ready,
                outputs: Outputs::default(),
            }
        })
        .collect())
}

/// Create or update a target tracking policy.
pub async fn put_policy(aws: &Aws, name: &str, spec: &PolicySpec) -> Result<(), AwsError> {
    let what = format!("set scaling policy {name}");
    let configuration = TargetTrackingConfiguration::builder()
        .predefined_metric_specification(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::from(spec.metric.as_str()))
                .build(),
        )
        .target_value(spec.target)
        .disable_scale_in(spec.disable_scale_in)
        .build();
    aws.autoscaling
        .put_scaling_policy()
        .auto_scaling_group_name(&spec.group)
        .policy_name(name)
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(configuration)
        .send()
        .await
        .map(|_| ())
        .map_err(fail(what))
}

pub async fn delete_policy(aws: &Aws, group: &str, name: &str) -> Result<(), AwsError> {
    match aws
        .autoscaling
        .delete_policy()
        .auto_scaling_group_name(group)
        .policy_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("delete scaling policy {name}"))(error);
            if absent(&error) { Ok(()) } else { Err(error) }
        }
    }
}

/// The group's scheduled actions.
pub async fn observe_schedules(
    aws: &Aws,
    group: &str,
    stack: &str,
) -> Result<Vec<ObservedResource>, AwsError> {
    let found = match aws
        .autoscaling
        .describe_scheduled_actions()
        .auto_scaling_group_name(group)
        .send()
        .await
    {
        Ok(found) => found,
        Err(error) => {
            let error = fail(format!("describe the scheduled actions of {group}"))(error);
            return if absent(&error) {
                Ok(vec![])
            } else {
                Err(error)
            };
        }
    };
    Ok(found
        .scheduled_update_group_actions()
        .iter()
        .map(|action| {
            let mut a = Map::new();
            a.insert("recurrence".into(), json!(action.recurrence()));
            a.insert("min_size".into(), json!(action.min_size()));
            a.insert("max_size".into(), json!(action.max_size()));
            a.insert("desired_capacity".into(), json!(action.desired_capacity()));
            a.insert("time_zone".into(), json!(action.time_zone()));
            let name = action.scheduled_action_name().unwrap_or_default();
            ObservedResource {
                id: ResourceId::new(Kind::ScheduledAction, name),
                physical_id: action.scheduled_action_arn().unwrap_or(name).to_string(),
                tags: owned_by(stack),
                attributes: a,
                status: Status::Ready,
                outputs: Outputs::default(),
            }
        })
        .collect())
}

/// Create or update a scheduled action.
pub async fn put_schedule(aws: &Aws, name: &str, spec: &ScheduleSpec) -> Result<(), AwsError> {
    aws.autoscaling
        .put_scheduled_update_group_action()
        .auto_scaling_group_name(&spec.group)
        .scheduled_action_name(name)
        .recurrence(&spec.recurrence)
        .set_min_size(spec.min)
        .set_max_size(spec.max)
        .set_desired_capacity(spec.desired)
        .set_time_zone(spec.time_zone.clone())
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("set scheduled action {name}")))
}

pub async fn delete_schedule(aws: &Aws, group: &str, name: &str) -> Result<(), AwsError> {
    match aws
        .autoscaling
        .delete_scheduled_action()
        .auto_scaling_group_name(group)
        .scheduled_action_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("delete scheduled action {name}"))(error);
            if absent(&error) { Ok(()) } else { Err(error) }
        }
    }
}
