//! The Auto Scaling group of a node group: its capacity (kept when `deployer scale` set it),
//! the launch template version its instances run (rolled to a new one batch by batch), its load
//! balancer and health checks. An apply waits until its instances are in service.

mod calls;
pub mod capacity;
pub mod roll;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::attributes::{Attribute, Attributes, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource};
use super::{
    About, Known, Live, NoteContext, Resource, ResourceKind, Scope, StepContext, launch_template,
    load_balancer,
};
use crate::aws::{Aws, AwsError};
use crate::ids::tags::TAG_SCALE;
use crate::ids::{Kind, ResourceId};
use crate::profile::values::RollBatch;
use crate::resources::quota::{Quota, QuotaUse};
use crate::resources::wait::{duration_text, pace};
use capacity::ScaleOverride;

pub use calls::{Capacity, Member, describe, set_capacity, set_tag};

pub const KIND: Kind = Kind::new("auto-scaling-group", "auto scaling group");

/// The attributes plan compares (and observation records).
pub const MIN_SIZE: &str = "min_size";
pub const MAX_SIZE: &str = "max_size";
pub const DESIRED_CAPACITY: &str = "desired_capacity";
pub const SCALE_OVERRIDE: &str = "scale_override";
pub const INSTANCES: &str = "instances";
pub const TERMINATION_POLICIES: &str = "termination_policies";
pub const INSTANCE_WARMUP: &str = "instance_warmup";
pub const HEALTH_CHECK_TYPE: &str = "health_check_type";
pub const HEALTH_CHECK_GRACE_PERIOD: &str = "health_check_grace_period";
pub const SUBNETS: &str = "subnets";
pub const LOAD_BALANCERS: &str = "load_balancers";
pub const LAUNCH_TEMPLATE: &str = "launch_template";
/// The group metrics it publishes to CloudWatch (its alarm needs them).
pub const METRICS: &str = "metrics";
/// Observed only: the versions the instances run, and a roll in progress.
pub const INSTANCE_VERSIONS: &str = "instance_versions";
pub const ROLLING: &str = "rolling";
/// How many of the group's instances its load balancer passes: an apply that failed waiting for
/// them leaves a group the next apply must wait for again, not report done.
pub const IN_SERVICE: &str = "in_service";

/// How long the group may take to have its instances in service.
const WAIT_LIMIT: Duration = Duration::from_secs(20 * 60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub health_check_grace_period: i32,
    pub subnets: Vec<String>,
    /// The group's load balancer; None for a group health-checked by EC2 alone.
    pub load_balancer: Option<String>,
    pub launch_template: String,
    /// How many instances a roll replaces at a time.
    pub roll_batch: RollBatch,
    pub roll_timeout_seconds: u64,
    pub instance_warmup: Option<i32>,
    pub termination_policies: Vec<String>,
    /// `apply --reset-scale`: return to the profile's capacity even after `deployer scale`.
    #[serde(default)]
    pub reset_scale: bool,
    /// The group metrics it publishes each minute (free of charge), e.g.
    /// `GroupInServiceInstances`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

fn number(live: Option<&ObservedResource>, key: &str) -> Option<i32> {
    live.and_then(|o| o.attributes.get(key))
        .and_then(Value::as_i64)
        .map(|v| v as i32)
}

pub struct AutoScalingGroups;

impl ResourceKind for AutoScalingGroups {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            wait_limit: WAIT_LIMIT,
            per_node_group: true,
            ..About::new("EC2 Auto Scaling group")
        }
    }

    /// The group, and up to its maximum of instances of its launch template.
    fn quota_use(&self, spec: &Spec) -> Vec<QuotaUse> {
        vec![
            QuotaUse::Count(Quota::AutoScalingGroups, 1),
            QuotaUse::InstancesOf {
                launch_template: spec.launch_template.clone(),
                count: spec.max.max(0) as u64,
            },
        ]
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:CreateAutoScalingGroup",
            "autoscaling:CreateOrUpdateTags",
            "autoscaling:UpdateAutoScalingGroup",
            "autoscaling:AttachLoadBalancers",
            "autoscaling:DetachLoadBalancers",
            "autoscaling:TerminateInstanceInAutoScalingGroup",
            "autoscaling:DeleteTags",
            "autoscaling:DeleteAutoScalingGroup",
            "autoscaling:SuspendProcesses",
            "autoscaling:ResumeProcesses",
            "autoscaling:EnableMetricsCollection",
            "autoscaling:DisableMetricsCollection",
            "elasticloadbalancing:DescribeInstanceHealth",
            "iam:PassRole",
            "iam:CreateServiceLinkedRole",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        group: &Spec,
        known: Known<'_>,
        live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        // A capacity set by `deployer scale` is kept until `apply --reset-scale`.
        let scaled = live
            .and_then(|o| o.attributes.get(SCALE_OVERRIDE))
            .filter(|v| !v.is_null())
            .filter(|_| !group.reset_scale);
        let (min, max) = match (scaled, number(live, MIN_SIZE), number(live, MAX_SIZE)) {
            (Some(_), Some(min), Some(max)) => (min, max),
            _ => (group.min, group.max),
        };
        // An existing group keeps its desired capacity unless it falls outside min..max.
        let desired = match number(live, DESIRED_CAPACITY) {
            Some(live) => live.clamp(min, max),
            None => group.desired,
        };
        let version = launch_template::version(known, &group.launch_template);
        // A load balancer (re)created under an existing group: the group must attach it again
        // so that its instances are registered.
        let new_load_balancer = live.is_some()
            && group
                .load_balancer
                .as_ref()
                .is_some_and(|lb| known.is_fresh(&load_balancer::id(lb.as_str())));
        let mut attributes = Attributes::new()
            .set(MIN_SIZE, min, Mode::InPlace)
            .set(MAX_SIZE, max, Mode::InPlace)
            .live(DESIRED_CAPACITY, Some(json!(desired)))
            .live(SCALE_OVERRIDE, Some(scaled.cloned().unwrap_or(Value::Null)))
            .live(INSTANCES, version.map(|v| json!(format!("all on v{v}"))))
            .set(
                TERMINATION_POLICIES,
                group.termination_policies.join(", "),
                Mode::InPlace,
            )
            .set(INSTANCE_WARMUP, group.instance_warmup, Mode::InPlace)
            .set(
                HEALTH_CHECK_TYPE,
                if group.load_balancer.is_some() {
                    "ELB"
                } else {
                    "EC2"
                },
                Mode::InPlace,
            )
            .set(
                HEALTH_CHECK_GRACE_PERIOD,
                group.health_check_grace_period,
                Mode::InPlace,
            )
            .set(SUBNETS, sorted(group.subnets.clone()), Mode::InPlace)
            .set(METRICS, sorted(group.metrics.clone()), Mode::InPlace)
            .maybe(
                LOAD_BALANCERS,
                (!new_load_balancer).then(|| sorted(group.load_balancer.clone())),
                Mode::InPlace,
            )
            .maybe(
                LAUNCH_TEMPLATE,
                version.map(|v| json!(format!("{} v{v}", group.launch_template))),
                Mode::InPlace,
            )
            .build();
        // An existing group behind its balancer: all its instances must pass the health check.
        if let Some(balancer) = group.load_balancer.as_ref().filter(|_| live.is_some()) {
            attributes.extend(
                Attributes::new()
                    .live(
                        IN_SERVICE,
                        (!new_load_balancer).then(|| json!(all_in_service(balancer))),
                    )
                    .build(),
            );
        }
        attributes
    }

    /// What happens to the group's capacity and instances: a capacity `deployer scale` set is
    /// kept, an interrupted roll is resumed, and instances on another version are rolled.
    fn note(&self, context: &NoteContext<'_>, group: &Spec) -> Option<String> {
        let Some(live) = context.live else {
            return context.note.map(str::to_string);
        };
        let mut notes: Vec<String> = context.note.map(str::to_string).into_iter().collect();
        let scaled = live
            .attributes
            .get(SCALE_OVERRIDE)
            .and_then(|v| v.as_str())
            .and_then(ScaleOverride::parse);
        if let Some(scaled) = scaled
            && !group.reset_scale
        {
            notes.push(format!(
                "capacity min {} max {} (set by deployer scale at {}; profile says {}..{}): kept",
                scaled.min, scaled.max, scaled.at, group.min, group.max
            ));
        }
        if let Some(rolling) = live.attributes.get(ROLLING).and_then(|v| v.as_str()) {
            notes.push(format!(
                "a roll was interrupted ({rolling}): apply resumes it"
            ));
        }
        if context.changes.iter().any(|c| c.attribute == INSTANCES) {
            let desired = number(Some(live), DESIRED_CAPACITY).unwrap_or(1);
            let batch = group.roll_batch.size(desired);
            notes.push(format!(
                "roll: {batch} instance(s) at a time, new ones healthy before old ones go; rolled back if a batch is not healthy within {}",
                crate::profile::validate::format_duration(group.roll_timeout_seconds)
            ));
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    /// Its launch template and load balancers go after it.
    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let mut uses = super::names_in(live, LOAD_BALANCERS, load_balancer::KIND, observed);
        uses.extend(super::names_in(
            live,
            SUBNETS,
            super::subnet::KIND,
            observed,
        ));
        if let Some((template, _)) = live
            .attributes
            .get(LAUNCH_TEMPLATE)
            .and_then(Value::as_str)
            .and_then(|text| text.rsplit_once(" v"))
        {
            let template = launch_template::id(template);
            if observed.get(&template).is_some() {
                uses.push(template);
            }
        }
        uses
    }

    fn outputs(&self, id: &ResourceId, _live: &Live) -> Vec<(&'static str, String)> {
        vec![("auto_scaling_group", id.name.clone())]
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let names: Vec<String> = scope
            .node_groups()
            .into_iter()
            .map(|group| group.auto_scaling_group)
            .collect();
        let groups = calls::describe_many(scope.aws, &names).await?;
        // Each group's balancer is asked at the same time.
        Ok(
            futures::future::join_all(groups.into_iter().map(|(mut group, members)| async move {
                with_balancer_health(scope.aws, &mut group, &members).await;
                group
            }))
            .await,
        )
    }

    async fn observe_one(
        &self,
        scope: Scope<'_>,
        id: &ResourceId,
    ) -> Result<Option<ObservedResource>, AwsError> {
        let Some((mut group, members)) = calls::describe(scope.aws, &id.name).await? else {
            return Ok(None);
        };
        with_balancer_health(scope.aws, &mut group, &members).await;
        Ok(Some(group))
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        calls::tagged(scope.aws, scope.names.stack()).await
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let name = &resource.id.name;
        let version = template_version(context.known, &resource.id, spec)?;
        calls::create(context.aws(), name, spec, version, &context.tags).await?;
        calls::collect_metrics(context.aws(), name, &spec.metrics, &[]).await?;
        until_in_service(context, spec).await?;
        Ok(Live::named(name.clone()))
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
        let version = template_version(context.known, &resource.id, spec)?;
        let number = |key: &str| {
            changes
                .desired(key)
                .and_then(Value::as_i64)
                .map(|v| v as i32)
        };
        let capacity = Capacity {
            min: number(MIN_SIZE).unwrap_or(spec.min),
            max: number(MAX_SIZE).unwrap_or(spec.max),
            desired: number(DESIRED_CAPACITY).unwrap_or(spec.desired),
        };
        calls::update(aws, name, spec, version, capacity, &changes.keys()).await?;
        if changes.has(INSTANCES) || changes.has(LAUNCH_TEMPLATE) {
            let fleet = roll::AwsFleet {
                aws,
                name,
                launch_template: &spec.launch_template,
                load_balancer: spec.load_balancer.as_deref(),
            };
            let plan = roll::Roll {
                id: context.id,
                batch: &spec.roll_batch,
                timeout: Duration::from_secs(spec.roll_timeout_seconds),
                progress: context.progress,
                poll_interval: context.options.poll_interval,
            };
            roll::roll(&fleet, &plan, version).await?;
        }
        if changes.has(SCALE_OVERRIDE) {
            calls::delete_tag(aws, name, TAG_SCALE).await?;
        }
        until_in_service(context, spec).await?;
        Ok(live)
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        let (aws, name) = (context.aws(), &context.id.name);
        context
            .retry("scaling activity to finish", || calls::delete(aws, name))
            .await?;
        context.until_gone().await
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        _physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        calls::set_tag(context.aws(), &context.id.name, key, value).await
    }

    /// A launch template (or a new version of it) or an instance profile just created is not
    /// seen by Auto Scaling at once; the Terraform AWS provider retries the same answers.
    fn not_visible_yet(&self, error: &AwsError) -> bool {
        let message = &error.message;
        error.is("ValidationError")
            && ((message.contains("launch template")
                && (message.contains("does not exist") || message.contains("fully-formed")))
                || message.contains("Invalid IAM Instance Profile name"))
    }
}

/// The `in_service` value of a group whose load balancer passes all its instances.
fn all_in_service(balancer: &str) -> String {
    format!("all InService in {balancer}")
}

/// Record how many of the group's in-service instances its (first) load balancer passes. Left
/// out when the balancer cannot be read (gone, being replaced): plan then shows the change and
/// apply waits for the instances.
async fn with_balancer_health(aws: &Aws, group: &mut ObservedResource, members: &[Member]) {
    let Some(balancer) = group
        .attributes
        .get(LOAD_BALANCERS)
        .and_then(Value::as_array)
        .and_then(|names| names.first())
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let desired = number(Some(group), DESIRED_CAPACITY).unwrap_or(0).max(0) as usize;
    let Ok(health) = load_balancer::instance_health(aws, &balancer, &[]).await else {
        return;
    };
    let passing = members
        .iter()
        .filter(|m| m.lifecycle == "InService")
        .filter(|m| {
            health
                .iter()
                .any(|h| h.instance_id == m.instance_id && h.in_service())
        })
        .count();
    let value = if passing >= desired {
        all_in_service(&balancer)
    } else {
        format!("{passing} of {desired} InService in {balancer}")
    };
    group.attributes.insert(IN_SERVICE.into(), json!(value));
}

/// Why the group's instances are not in service in its load balancer, for the error.
async fn not_in_service(
    aws: &Aws,
    id: &ResourceId,
    balancer: &str,
    health: &[load_balancer::InstanceHealth],
    waited: Duration,
) -> AwsError {
    let target = load_balancer::health_target(aws, balancer)
        .await
        .unwrap_or_else(|| "its health check".into());
    let mut lines = vec![format!(
        "the load balancer {balancer} did not pass its instances within {} (health check {target}):",
        duration_text(waited)
    )];
    for instance in health.iter().filter(|h| !h.in_service()) {
        lines.push(format!(
            "  {} {}{}",
            instance.instance_id,
            instance.state,
            instance
                .reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }
    if let Some(first) = health.iter().find(|h| !h.in_service()) {
        lines.push(format!(
            "  the last lines of {}'s console:",
            first.instance_id
        ));
        for line in crate::resources::builder::console_tail(aws, &first.instance_id, 10).await {
            lines.push(format!("    {line}"));
        }
    }
    AwsError::other(format!("wait for {id}"), lines.join("\n")).with_hint(format!(
        "the nodes must answer {target}: check the boot template (what serves it, and on which port) and the node security group"
    ))
}

/// The launch template version the group should run, once known.
fn template_version(known: Known<'_>, user: &ResourceId, group: &Spec) -> Result<i64, AwsError> {
    launch_template::version(known, &group.launch_template).ok_or_else(|| {
        AwsError::other(
            format!("configure {user}"),
            "the launch template does not exist",
        )
    })
}

/// Wait until the group has its desired number of instances in service and healthy, and, with a
/// load balancer, InService in it: a node serves only once the balancer's health check passes it.
/// A node the balancer never passes fails the step after `roll_timeout`, naming the health
/// target, each instance's state and ELB reason, and the end of its console output.
async fn until_in_service(context: &StepContext<'_>, spec: &Spec) -> Result<(), AwsError> {
    let id = context.id;
    let aws = context.aws();
    let begun = std::time::Instant::now();
    let mut ticks = pace(context.options.poll_interval);
    // When the group itself had its instances; from then on the balancer has roll_timeout.
    let mut group_ready: Option<std::time::Instant> = None;
    let balancer_limit = Duration::from_secs(spec.roll_timeout_seconds);
    loop {
        if let Some((group, members)) = calls::describe(aws, &id.name).await? {
            let desired = group
                .attributes
                .get(DESIRED_CAPACITY)
                .and_then(|v| v.as_i64())
                .unwrap_or(0) as usize;
            let in_service: Vec<String> = members
                .iter()
                .filter(|m| m.lifecycle == "InService" && m.health == "Healthy")
                .map(|m| m.instance_id.clone())
                .collect();
            match (&spec.load_balancer, in_service.len() >= desired) {
                (_, false) => {
                    group_ready = None;
                    context.status(&format!(
                        "waiting: {}/{desired} instances in service",
                        in_service.len()
                    ));
                }
                (None, true) => return Ok(()),
                (Some(balancer), true) => {
                    let since = *group_ready.get_or_insert_with(std::time::Instant::now);
                    // Every instance the balancer has: naming one it has not registered yet
                    // is an InvalidInstance error on AWS, not an OutOfService.
                    let health: Vec<_> = load_balancer::instance_health(aws, balancer, &[])
                        .await?
                        .into_iter()
                        .filter(|h| in_service.contains(&h.instance_id))
                        .collect();
                    let passing = health.iter().filter(|h| h.in_service()).count();
                    if passing >= desired {
                        return Ok(());
                    }
                    if since.elapsed() > balancer_limit {
                        return Err(
                            not_in_service(aws, id, balancer, &health, balancer_limit).await
                        );
                    }
                    context.status(&format!(
                        "waiting: {passing}/{desired} instances InService in load balancer {balancer}"
                    ));
                }
            }
        }
        if begun.elapsed() > WAIT_LIMIT {
            return Err(AwsError::other(
                format!("wait for {id}"),
                "its instances did not come into service in time; check the boot template and the health check",
            ));
        }
        crate::resources::wait::next_poll(&mut ticks, context.id, "instances in service").await?;
    }
}
