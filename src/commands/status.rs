//! `deployer status`: what runs now: outputs, capacity (and any `deployer scale` override), the
//! launch template version the group runs against the newest, and each instance with its zone,
//! version and load balancer health.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Failure, observe};
use crate::aws::{Aws, ec2};
use crate::cli::{Global, StatusArgs};
use crate::ids::ResourceId;
use crate::ids::names::{GroupNames, Names};
use crate::ids::tags::TAG_GROUP;
use crate::profile::load::load;
use crate::render::report::{Range, emit, output_map};
use crate::render::status::{self, GroupStatus, InstanceStatus, StatusReport};
use crate::resources::auto_scaling_group::capacity::ScaleOverride;
use crate::resources::observed::Observed;
use crate::resources::{
    Live, alarm, auto_scaling_group, image, launch_template, load_balancer, outputs,
};

pub async fn run(global: &Global, args: &StatusArgs) -> Result<i32, Failure> {
    let loaded = load(global.profile())?;
    let profile = &loaded.profile;
    let aws = super::connect(global, &loaded).await?;
    let vpc_id = ec2::stack_vpc(&aws, &profile.network, &profile.stack)
        .await
        .map_err(|e| super::network_failure(&loaded, e))?;
    let groups: Vec<String> = profile.groups.keys().cloned().collect();
    let names = Names::with_groups(&profile.stack, &groups);
    let observed = observe(&aws, &names, &vpc_id).await?;
    let report = report(&aws, &names, &observed, profile).await?;
    emit(&report, args.output);
    Ok(0)
}

/// The extra node group an image belongs to, by its name (images carry no group tag).
fn image_group<'a>(names: &'a Names, id: &ResourceId) -> Option<&'a str> {
    let prefix = crate::ids::names::image_prefix(&id.name);
    names
        .groups()
        .iter()
        .find(|g| names.group(Some(g)).image_prefix == prefix)
        .map(String::as_str)
}

async fn report(
    aws: &Aws,
    names: &Names,
    observed: &Observed,
    profile: &crate::profile::schema::Profile,
) -> Result<StatusReport, Failure> {
    // The newest of each group's images.
    let mut newest: BTreeMap<&str, &ResourceId> = BTreeMap::new();
    let created = |id: &ResourceId| {
        observed
            .get(id)
            .and_then(|r| r.attributes.get("created_at"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    for image in observed
        .resources
        .iter()
        .filter(|r| r.id.kind == image::KIND)
    {
        let prefix = crate::ids::names::image_prefix(&image.id.name);
        let newer = newest
            .get(prefix)
            .is_none_or(|current| created(&image.id) > created(current));
        if newer {
            newest.insert(prefix, &image.id);
        }
    }
    let images: Vec<&ResourceId> = newest.into_values().collect();
    // The declared node groups' resources and the stack's own, with the newest image of each
    // group.
    let declared = |group: Option<&String>| group.is_none_or(|g| names.groups().contains(g));
    let lives: Vec<(&ResourceId, Option<&str>, Live)> = observed
        .resources
        .iter()
        .filter(|r| r.id.kind != image::KIND || images.contains(&&r.id))
        .filter(|r| declared(r.tags.get(TAG_GROUP)))
        .map(|r| {
            let group = r
                .tags
                .get(TAG_GROUP)
                .map(String::as_str)
                .or_else(|| image_group(names, &r.id));
            (&r.id, group, Live::of(r))
        })
        .collect();
    let entries: Vec<(&ResourceId, Option<&str>, &Live)> = lives
        .iter()
        .map(|(id, group, live)| (*id, *group, live))
        .collect();
    let outputs = output_map(&outputs(&entries));
    let mut group = None;
    let mut extra = BTreeMap::new();
    for names_of in names.node_groups() {
        let scaling = match &names_of.group {
            None => profile.scaling.clone(),
            Some(name) => profile.groups[name].scaling.as_scaling(),
        };
        let report = group_report(aws, observed, &names_of, &scaling, profile.ssm).await?;
        match (&names_of.group, report) {
            (None, report) => group = report,
            (Some(name), Some(report)) => {
                extra.insert(name.clone(), report);
            }
            (Some(_), None) => {}
        }
    }
    Ok(StatusReport {
        stack: names.stack().to_string(),
        outputs,
        group,
        groups: extra,
        alarms: alarms(observed),
    })
}

/// The stack's alarms with their states, firing ones first.
fn alarms(observed: &Observed) -> Vec<status::AlarmStatus> {
    let text = |r: &crate::resources::observed::ObservedResource, key: &str| {
        r.attributes
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut alarms: Vec<status::AlarmStatus> = observed
        .resources
        .iter()
        .filter(|r| r.id.kind == alarm::KIND)
        .map(|r| status::AlarmStatus {
            name: r.id.name.clone(),
            state: text(r, alarm::STATE).unwrap_or_else(|| "?".into()),
            reason: text(r, alarm::STATE_REASON),
        })
        .collect();
    let rank = |state: &str| match state {
        "ALARM" => 0,
        "INSUFFICIENT_DATA" => 1,
        _ => 2,
    };
    alarms.sort_by(|a, b| (rank(&a.state), &a.name).cmp(&(rank(&b.state), &b.name)));
    alarms
}

/// One node group's capacity, launch template and instances (None when it has no group).
async fn group_report(
    aws: &Aws,
    observed: &Observed,
    names: &GroupNames,
    scaling: &crate::profile::schema::Scaling,
    ssm: bool,
) -> Result<Option<GroupStatus>, Failure> {
    let latest = observed
        .get(&launch_template::id(&names.launch_template))
        .and_then(|t| t.outputs.version);
    let Some((live, members)) =
        auto_scaling_group::describe(aws, &names.auto_scaling_group).await?
    else {
        return Ok(None);
    };
    let balanced = live
        .attributes
        .get(auto_scaling_group::LOAD_BALANCERS)
        .and_then(|v| v.as_array())
        .is_some_and(|lbs| !lbs.is_empty());
    let health = if balanced {
        load_balancer::instance_health(aws, &names.load_balancer, &[])
            .await
            .unwrap_or_default()
    } else {
        vec![]
    };
    let number = |key: &str| live.attributes.get(key).and_then(Value::as_i64);
    let text = |key: &str| {
        live.attributes
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let scaled = live
        .attributes
        .get(auto_scaling_group::SCALE_OVERRIDE)
        .and_then(|v| v.as_str())
        .and_then(ScaleOverride::parse);
    let instances = members
        .iter()
        .map(|m| {
            let elb = health.iter().find(|h| h.instance_id == m.instance_id);
            let state = match elb {
                Some(h) => h.state.clone(),
                None if balanced => "not registered".into(),
                None => m.health.clone(),
            };
            InstanceStatus {
                id: m.instance_id.clone(),
                zone: m.zone.clone(),
                version: m.launch_template_version.clone(),
                lifecycle: m.lifecycle.clone(),
                health: state,
                reason: elb.and_then(|h| h.reason.clone()),
                session: ssm.then(|| {
                    format!(
                        "aws ssm start-session --target {} --region {}",
                        m.instance_id, aws.region
                    )
                }),
            }
        })
        .collect();
    Ok(Some(GroupStatus {
        name: names.auto_scaling_group.clone(),
        min: number(auto_scaling_group::MIN_SIZE),
        max: number(auto_scaling_group::MAX_SIZE),
        desired: number(auto_scaling_group::DESIRED_CAPACITY),
        profile: Range {
            min: scaling.min,
            max: scaling.max,
        },
        scale_override: scaled.map(|s| status::ScaleOverride {
            min: s.min,
            max: s.max,
            desired: s.desired,
            set_at: s.at,
        }),
        launch_template: text(auto_scaling_group::LAUNCH_TEMPLATE),
        newest_version: latest,
        instances_on: text(auto_scaling_group::INSTANCES),
        rolling: text(auto_scaling_group::ROLLING),
        instances,
    }))
}
