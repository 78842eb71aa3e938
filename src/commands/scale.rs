//! `deployer scale`: change the live group's capacity, and record it on the group so that later
//! applies keep it (until `apply --reset-scale`).

use super::Failure;
use crate::aws::Aws;
use crate::cli::{Global, ScaleArgs};
use crate::ids::names::Names;
use crate::ids::tags::TAG_SCALE;
use crate::profile::load::load;
use crate::profile::scaling::capacity_problems;
use crate::render::report::{Capacity, Range, ScaleReport, emit};
use crate::render::{Format, errors};
use crate::resources::auto_scaling_group::{self as group, capacity::ScaleOverride};

fn refuse(problems: Vec<(&'static str, String, String)>) -> Failure {
    let lines: Vec<String> = problems
        .iter()
        .map(|(field, message, _)| format!("--{field}: {message}"))
        .collect();
    let hint = problems
        .first()
        .map(|(_, _, hint)| hint.clone())
        .unwrap_or_default();
    Failure::Usage(format!(
        "{}\n  hint: {hint}; nothing was changed",
        lines.join("\n")
    ))
}

pub async fn run(global: &Global, args: &ScaleArgs) -> Result<i32, Failure> {
    if args.min.is_none() && args.max.is_none() && args.desired.is_none() {
        return Err(Failure::Usage(
            "give --min, --max or --desired (or several)".into(),
        ));
    }
    // What can be checked from the arguments alone is checked before any call.
    let early = capacity_problems(
        args.min.unwrap_or(0),
        args.max.unwrap_or(crate::profile::scaling::MAX_CAPACITY),
        args.desired,
    );
    if !early.is_empty() {
        return Err(refuse(early));
    }
    let loaded = load(global.profile())?;
    let profile = &loaded.profile;
    let aws = super::connect(global, &loaded).await?;
    super::while_locked(&aws, &profile.stack, "scale", scale(&aws, profile, args)).await
}

async fn scale(
    aws: &Aws,
    profile: &crate::profile::schema::Profile,
    args: &ScaleArgs,
) -> Result<i32, Failure> {
    let names = Names::new(&profile.stack);
    let (name, scaling) = match &args.group {
        None => (names.auto_scaling_group(), profile.scaling.clone()),
        Some(group) => match profile.groups.get(group) {
            Some(declared) => (
                names.group(Some(group)).auto_scaling_group,
                declared.scaling.as_scaling(),
            ),
            None => {
                let declared: Vec<&str> = profile.groups.keys().map(String::as_str).collect();
                return Err(Failure::Usage(format!(
                    "--group {group}: the profile declares no such group\n  hint: {}; nothing was changed",
                    if declared.is_empty() {
                        "the profile has no [groups.<name>] tables; leave --group out to scale the main group".to_string()
                    } else {
                        format!("its groups: {}", declared.join(", "))
                    }
                )));
            }
        },
    };
    let Some((live, members)) = group::describe(aws, &name).await? else {
        return Err(Failure::stop(
            format!("stack {} has no auto scaling group {name}", profile.stack),
            "run `deployer apply` first",
        ));
    };
    let number = |key: &str| {
        live.attributes
            .get(key)
            .and_then(|v| v.as_i64())
            .unwrap_or(0) as i32
    };
    let (old_min, old_max, old_desired) = (
        number("min_size"),
        number("max_size"),
        number("desired_capacity"),
    );
    let min = args.min.unwrap_or(old_min);
    let max = args.max.unwrap_or(old_max);
    let desired = args
        .desired
        .unwrap_or_else(|| old_desired.clamp(min, max.max(min)));
    let problems = capacity_problems(min, max, Some(desired));
    if !problems.is_empty() {
        return Err(refuse(problems));
    }
    if max > old_max {
        let running = members
            .iter()
            .filter(|m| !m.lifecycle.starts_with("Terminat"))
            .count() as u64;
        check_vcpus(aws, profile, args.group.as_deref(), max as u64, running).await?;
    }
    group::set_capacity(aws, &name, Some(min), Some(max), Some(desired)).await?;
    let record = ScaleOverride {
        min,
        max,
        desired,
        at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    group::set_tag(aws, &name, TAG_SCALE, &record.to_string()).await?;
    let report = ScaleReport {
        group: name.clone(),
        before: Capacity {
            min: old_min,
            max: old_max,
            desired: old_desired,
        },
        after: Capacity { min, max, desired },
        set_at: record.at.clone(),
        profile: Range {
            min: scaling.min,
            max: scaling.max,
        },
    };
    emit(&report, args.output);
    if args.output == Format::Text {
        errors::note(&format!(
            "Later applies keep this capacity; `deployer apply --reset-scale` returns to the profile's ({}..{}).",
            scaling.min, scaling.max
        ));
    }
    Ok(0)
}

/// Whether the account's On-Demand standard vCPU quota holds the group at its new maximum
/// (`max` instances of the profile's type) beside what the rest of the account runs, the group's
/// `running` instances aside. Over the quota refuses the scale, before any change; near it, or a
/// quota that cannot be read, only warns. A type of another family counts against another quota,
/// which is not checked.
async fn check_vcpus(
    aws: &Aws,
    profile: &crate::profile::schema::Profile,
    group: Option<&str>,
    max: u64,
    running: u64,
) -> Result<(), Failure> {
    use crate::resources::quota::{Quota, standard_family};
    let Some(instance_type) = profile
        .node_tables()
        .into_iter()
        .find(|(g, _, _)| *g == group)
        .map(|(_, _, node)| node.instance_type.clone())
    else {
        return Ok(());
    };
    if !standard_family(&instance_type) {
        return Ok(());
    }
    let not_checked = |error: crate::aws::AwsError| {
        errors::warning(&format!("the vCPU quota is not checked: {error}"));
    };
    let facts = match crate::aws::ec2::type_facts(aws, &[instance_type.clone()].into()).await {
        Ok(facts) => facts,
        Err(error) => {
            not_checked(error);
            return Ok(());
        }
    };
    let Some(each) = facts.get(&instance_type).map(|f| f.vcpus as u64) else {
        return Ok(());
    };
    let vcpus = [(instance_type.clone(), each as u32)].into();
    let reading = match crate::aws::quotas::reading(
        aws,
        Quota::StandardVcpus,
        &profile.stack,
        &vcpus,
    )
    .await
    {
        Ok(reading) => reading,
        Err(error) => {
            not_checked(error);
            return Ok(());
        }
    };
    match crate::stack::quotas::judge_scale(
        &aws.region,
        &reading,
        (&instance_type, each),
        max,
        running * each,
    ) {
        Ok(None) => Ok(()),
        Ok(Some(warning)) => {
            errors::warning(&format!("--max: {warning}"));
            Ok(())
        }
        Err((message, hint)) => Err(refuse(vec![("max", message, hint)])),
    }
}
