//! `deployer status`: what runs now: outputs, capacity (and any `deployer scale` override), the
//! launch template version the group runs against the newest, and each instance with its zone,
//! version and load balancer health.

use serde_json::{Value, json};

use super::{Failure, outputs};
use crate::aws::stack::observe;
use crate::aws::{Aws, autoscaling, ec2, elb};
use crate::cli::{Global, StatusArgs};
use crate::engine::ledger_of;
use crate::plan::observed::Observed;
use crate::profile::load::load;
use crate::render::Format;
use crate::stack::capacity::ScaleOverride;
use crate::stack::naming::Names;
use crate::stack::spec::{Kind, ResourceId};

pub async fn run(global: &Global, args: &StatusArgs) -> Result<i32, Failure> {
    let loaded = load(&global.profile)?;
    let profile = &loaded.profile;
    let aws = super::connect(global, &loaded).await?;
    let vpc_id = ec2::resolve_vpc(&aws, &profile.network.vpc)
        .await
        .map_err(|e| super::network_failure(&loaded, e))?;
    let names = Names::new(&profile.stack);
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

async fn report(
    aws: &Aws,
    names: &Names,
    observed: &Observed,
    profile: &crate::profile::schema::Profile,
) -> Result<Value, Failure> {
    // The newest of the stack's images.
    let image = observed
        .resources
        .iter()
        .filter(|r| r.id.kind == Kind::Image)
        .max_by_key(|r| {
            r.attributes
                .get("created_at")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        })
        .map(|r| &r.id);
    let outputs: serde_json::Map<String, Value> = outputs(names, &ledger_of(observed), image)
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    let latest = observed
        .get(&ResourceId::new(
            Kind::LaunchTemplate,
            names.launch_template(),
        ))
        .and_then(|t| t.outputs.version);
    let mut group = Value::Null;
    if let Some((live, members)) = autoscaling::describe(aws, &names.auto_scaling_group()).await? {
        let health = elb::instance_health(aws, &names.load_balancer(), &[])
            .await
            .unwrap_or_default();
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
                json!({
                    "id": m.instance_id,
                    "zone": m.zone,
                    "version": m.launch_template_version,
                    "lifecycle": m.lifecycle,
                    "health": elb.map(|h| h.state.clone()).unwrap_or_else(|| "not registered".into()),
                    "reason": elb.and_then(|h| h.reason.clone()),
                })
            })
            .collect();
        group = json!({
            "name": names.auto_scaling_group(),
            "min": number("min_size"),
            "max": number("max_size"),
            "desired": number("desired_capacity"),
            "profile": {"min": profile.scaling.min, "max": profile.scaling.max},
            "scale_override": scaled.map(|s| json!({"min": s.min, "max": s.max, "desired": s.desired, "set_at": s.at})),
            "launch_template": number("launch_template"),
            "newest_version": latest,
            "instances_on": number("instances"),
            "rolling": number("rolling"),
            "instances": instances,
        });
    }
    Ok(json!({
        "stack": names.stack(),
        "outputs": outputs,
        "group": group,
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
    let group = &report["group"];
    if group.is_null() {
        return out;
    }
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
    out
}
