//! `deployer status`: what runs now: outputs, capacity (and any `deployer scale` override), the
//! launch template version the group runs against the newest, and each instance with its zone,
//! version and load balancer health.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Failure, observe};
use crate::aws::{Aws, ec2};
use crate::cli::{Global, StatusArgs};
use crate::ids::ResourceId;
use crate::ids::names::{GroupNames, Names};
use crate::ids::tags::TAG_GROUP;
use crate::profile::load::load;
use crate::render::Format;
use crate::resources::auto_scaling_group::capacity::ScaleOverride;
use crate::resources::observed::Observed;
use crate::resources::{Live, auto_scaling_group, image, launch_template, load_balancer, outputs};

pub async fn run(global: &Global, args: &StatusArgs) -> Result<i32, Failure> {
    let loaded = load(&global.profile)?;
    let profile = &loaded.profile;
    let aws = super::connect(global, &loaded).await?;
    let vpc_id = ec2::resolve_vpc(&aws, &profile.network.vpc)
        .await
        .map_err(|e| super::network_failure(&loaded, e))?;
    let groups: Vec<String> = profile.groups.keys().cloned().collect();
    let names = Names::with_groups(&profile.stack, &groups);
    let observed = observe(&aws, &names, &vpc_id).await?;
    let report = report(&aws, &names, &observed, profile).await?;
    match args.output {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("status serializes")
        ),
        Format::Text => print!("{}", text(&report)),
    }
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
) -> Result<Value, Failure> {
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
    let outputs: serde_json::Map<String, Value> = outputs(&entries)
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    let mut group = Value::Null;
    let mut extra = serde_json::Map::new();
    for names_of in names.node_groups() {
        let scaling = match &names_of.group {
            None => profile.scaling.clone(),
            Some(name) => profile.groups[name].scaling.as_scaling(),
        };
        let report = group_report(aws, observed, &names_of, &scaling).await?;
        match &names_of.group {
            None => group = report,
            Some(name) if !report.is_null() => {
                extra.insert(name.clone(), report);
            }
            Some(_) => {}
        }
    }
    Ok(json!({
        "stack": names.stack(),
        "outputs": outputs,
        "group": group,
        "groups": extra,
    }))
}

/// One node group's capacity, launch template and instances (null when it has no group).
async fn group_report(
    aws: &Aws,
    observed: &Observed,
    names: &GroupNames,
    scaling: &crate::profile::schema::Scaling,
) -> Result<Value, Failure> {
    let latest = observed
        .get(&launch_template::id(&names.launch_template))
        .and_then(|t| t.outputs.version);
    let Some((live, members)) =
        auto_scaling_group::describe(aws, &names.auto_scaling_group).await?
    else {
        return Ok(Value::Null);
    };
    let balanced = live
        .attributes
        .get("load_balancers")
        .and_then(|v| v.as_array())
        .is_some_and(|lbs| !lbs.is_empty());
    let health = if balanced {
        load_balancer::instance_health(aws, &names.load_balancer, &[])
            .await
            .unwrap_or_default()
    } else {
        vec![]
    };
    let number = |key: &str| live.attributes.get(key).cloned().unwrap_or(Value::Null);
    let scaled = live
        .attributes
        .get("scale_override")
        .and_then(|v| v.as_str())
        .and_then(ScaleOverride::parse);
    let instances: Vec<Value> = members
        .iter()
        .map(|m| {
            let elb = health.iter().find(|h| h.instance_id == m.instance_id);
            let state = match elb {
                Some(h) => h.state.clone(),
                None if balanced => "not registered".into(),
                None => m.health.clone(),
            };
            json!({
                "id": m.instance_id,
                "zone": m.zone,
                "version": m.launch_template_version,
                "lifecycle": m.lifecycle,
                "health": state,
                "reason": elb.and_then(|h| h.reason.clone()),
            })
        })
        .collect();
    Ok(json!({
        "name": names.auto_scaling_group,
        "min": number("min_size"),
        "max": number("max_size"),
        "desired": number("desired_capacity"),
        "profile": {"min": scaling.min, "max": scaling.max},
        "scale_override": scaled.map(|s| json!({"min": s.min, "max": s.max, "desired": s.desired, "set_at": s.at})),
        "launch_template": number("launch_template"),
        "newest_version": latest,
        "instances_on": number("instances"),
        "rolling": number("rolling"),
        "instances": instances,
    }))
}

fn text(report: &Value) -> String {
    let mut out = format!("Stack {}\n", report["stack"].as_str().unwrap_or_default());
    let outputs: Vec<(String, String)> = report["outputs"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    if outputs.is_empty() {
        out.push_str("\nNothing is deployed.\n");
        return out;
    }
    out.push('\n');
    out.push_str(&crate::render::plan::outputs_text(&outputs));
    if !report["group"].is_null() {
        group_text(&report["group"], &mut out);
    }
    if let Some(groups) = report["groups"].as_object() {
        for (name, group) in groups {
            out.push_str(&format!("\nGroup {name}\n"));
            group_text(group, &mut out);
        }
    }
    out
}

fn group_text(group: &Value, out: &mut String) {
    out.push_str(&format!(
        "\nCapacity: min {}, max {}, desired {}",
        group["min"], group["max"], group["desired"]
    ));
    if let Some(scaled) = group["scale_override"].as_object() {
        out.push_str(&format!(
            " (set by deployer scale at {}; profile says {}..{})",
            scaled["set_at"].as_str().unwrap_or_default(),
            group["profile"]["min"],
            group["profile"]["max"]
        ));
    }
    out.push_str(&format!(
        "\nLaunch template: the group runs {}; the newest version is v{}; instances: {}\n",
        group["launch_template"].as_str().unwrap_or("?"),
        group["newest_version"],
        group["instances_on"].as_str().unwrap_or("?")
    ));
    if let Some(rolling) = group["rolling"].as_str() {
        out.push_str(&format!(
            "Roll in progress ({rolling}): `deployer apply` resumes it\n"
        ));
    }
    let instances = group["instances"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("\nInstances ({}):\n", instances.len()));
    for instance in instances {
        out.push_str(&format!(
            "  {}  {}  v{}  {}  {}{}\n",
            instance["id"].as_str().unwrap_or_default(),
            instance["zone"].as_str().unwrap_or_default(),
            instance["version"].as_str().unwrap_or("?"),
            instance["lifecycle"].as_str().unwrap_or_default(),
            instance["health"].as_str().unwrap_or_default(),
            instance["reason"]
                .as_str()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }
}
