//! A target tracking policy of the main Auto Scaling group: keep a predefined metric at a target.
//! Policies carry no tags of their own: they belong to the stack because its group does.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{
    MetricType, PredefinedMetricSpecification, TargetTrackingConfiguration,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Changes, Mode};
use super::observed::{Observed, ObservedResource, Outputs, Status};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext, auto_scaling_group};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("scaling-policy", "scaling policy");

/// The attributes plan compares.
pub const POLICY_TYPE: &str = "policy_type";
pub const METRIC: &str = "metric";
pub const TARGET: &str = "target";
pub const DISABLE_SCALE_IN: &str = "disable_scale_in";
/// Observed only: the group it belongs to.
pub const GROUP: &str = "auto_scaling_group";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub group: String,
    /// AWS's predefined metric type, e.g. `ASGAverageCPUUtilization`.
    pub metric: String,
    pub target: f64,
    pub disable_scale_in: bool,
}

pub struct ScalingPolicies;

impl ResourceKind for ScalingPolicies {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            // A group allows one target tracking policy per metric: a renamed one is created
            // once its old self is gone.
            creates_after_deletes: true,
            ..About::new("Auto Scaling target tracking policy")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "autoscaling:DescribePolicies",
            "autoscaling:PutScalingPolicy",
            "autoscaling:DeletePolicy",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        policy: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        Attributes::new()
            .set(POLICY_TYPE, "TargetTrackingScaling", Mode::InPlace)
            .set(METRIC, policy.metric.as_str(), Mode::InPlace)
            .set(TARGET, policy.target, Mode::InPlace)
            .set(DISABLE_SCALE_IN, policy.disable_scale_in, Mode::InPlace)
            .build()
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        super::names_in(live, GROUP, auto_scaling_group::KIND, observed)
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let names = scope.names;
        observe_policies(scope.aws, &names.auto_scaling_group(), names.stack()).await
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        put_policy(context.aws(), &resource.id.name, spec).await?;
        Ok(Live::named(resource.id.name.clone()))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        _changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        put_policy(context.aws(), &resource.id.name, spec).await?;
        Ok(live)
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        let group = context.names().auto_scaling_group();
        delete_policy(context.aws(), &group, &context.id.name).await
    }

    /// Policies take no tags: the group's stand for them.
    async fn tag(
        &self,
        _context: &StepContext<'_>,
        _physical_id: &str,
        _key: &str,
        _value: &str,
    ) -> Result<(), AwsError> {
        Ok(())
    }
}

pub(super) fn owned_by(stack: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(crate::ids::tags::TAG_STACK.to_string(), stack.to_string())])
}

pub(super) fn absent(error: &AwsError) -> bool {
    error.is("ValidationError") && error.message.to_ascii_lowercase().contains("not found")
}

/// The group's scaling policies.
async fn observe_policies(
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
            a.insert(POLICY_TYPE.into(), json!(policy.policy_type()));
            a.insert(
                METRIC.into(),
                json!(
                    tracking
                        .and_then(|t| t.predefined_metric_specification())
                        .and_then(|m| m.predefined_metric_type())
                        .map(|m| m.as_str())
                ),
            );
            a.insert(TARGET.into(), json!(tracking.map(|t| t.target_value())));
            a.insert(
                DISABLE_SCALE_IN.into(),
                json!(tracking.and_then(|t| t.disable_scale_in()).unwrap_or(false)),
            );
            a.insert(GROUP.into(), json!(group));
            let name = policy.policy_name().unwrap_or_default();
            ObservedResource {
                id: ResourceId::new(KIND, name),
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
async fn put_policy(aws: &Aws, name: &str, spec: &Spec) -> Result<(), AwsError> {
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

async fn delete_policy(aws: &Aws, group: &str, name: &str) -> Result<(), AwsError> {
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
