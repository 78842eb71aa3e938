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
    let Some((live, _)) = group::describe(aws, &name).await? else {
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
