//! A scheduled capacity change of the main Auto Scaling group. Scheduled actions carry no tags
//! of their own: they belong to the stack because its group does.

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Changes, Mode};
use super::observed::{Observed, ObservedResource, Outputs, Status};
use super::scaling_policy::{absent, owned_by};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext, auto_scaling_group};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("scheduled-action", "scheduled action");

/// The attributes plan compares.
pub const RECURRENCE: &str = "recurrence";
pub const MIN_SIZE: &str = "min_size";
pub const MAX_SIZE: &str = "max_size";
pub const DESIRED_CAPACITY: &str = "desired_capacity";
pub const TIME_ZONE: &str = "time_zone";
/// Observed only: the group it belongs to.
pub const GROUP: &str = "auto_scaling_group";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub group: String,
    pub recurrence: String,
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub desired: Option<i32>,
    pub time_zone: Option<String>,
}

pub struct ScheduledActions;

impl ResourceKind for ScheduledActions {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            // One action per name and group: a renamed one is created once its old self is gone.
            creates_after_deletes: true,
            ..About::new("Auto Scaling scheduled action")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "autoscaling:DescribeScheduledActions",
            "autoscaling:PutScheduledUpdateGroupAction",
            "autoscaling:DeleteScheduledAction",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        action: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        Attributes::new()
            .set(RECURRENCE, action.recurrence.as_str(), Mode::InPlace)
            .set(MIN_SIZE, action.min, Mode::InPlace)
            .set(MAX_SIZE, action.max, Mode::InPlace)
            .set(DESIRED_CAPACITY, action.desired, Mode::InPlace)
            .set(TIME_ZONE, action.time_zone.clone(), Mode::InPlace)
            .build()
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        super::names_in(live, GROUP, auto_scaling_group::KIND, observed)
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let names = scope.names;
        observe_schedules(scope.aws, &names.auto_scaling_group(), names.stack()).await
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        put_schedule(context.aws(), &resource.id.name, spec).await?;
        Ok(Live::named(resource.id.name.clone()))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let name = &resource.id.name;
        // A put keeps the fields it does not name: clearing one takes a new action.
        if changes.clears_any() {
            delete_schedule(aws, &spec.group, name).await?;
        }
        put_schedule(aws, name, spec).await?;
        Ok(live)
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        let group = context.names().auto_scaling_group();
        delete_schedule(context.aws(), &group, &context.id.name).await
    }

    /// Scheduled actions take no tags: the group's stand for them.
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

/// The group's scheduled actions.
async fn observe_schedules(
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
            a.insert(RECURRENCE.into(), json!(action.recurrence()));
            a.insert(MIN_SIZE.into(), json!(action.min_size()));
            a.insert(MAX_SIZE.into(), json!(action.max_size()));
            a.insert(DESIRED_CAPACITY.into(), json!(action.desired_capacity()));
            a.insert(TIME_ZONE.into(), json!(action.time_zone()));
            a.insert(GROUP.into(), json!(group));
            let name = action.scheduled_action_name().unwrap_or_default();
            ObservedResource {
                id: ResourceId::new(KIND, name),
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
async fn put_schedule(aws: &Aws, name: &str, spec: &Spec) -> Result<(), AwsError> {
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

async fn delete_schedule(aws: &Aws, group: &str, name: &str) -> Result<(), AwsError> {
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
