//! `deployer plan`: read the live stack, diff it against the profile, print the plan.

use super::{Failure, make_plan, prepare};
use crate::cli::{Global, PlanArgs};
use crate::plan::saved::{FORMAT, SavedPlan};
use crate::render::plan::{Heading, json, text};
use crate::render::report::json_text;
use crate::render::{self, Format};

pub async fn run(global: &Global, args: &PlanArgs) -> Result<i32, Failure> {
    let prepared = prepare(global, None).await?;
    super::warn(&prepared.desired);
    let plan = make_plan(&prepared.desired, &prepared.observed)?;
    super::accepted(&prepared, &plan).await?;
    let heading = Heading {
        profile: &prepared.loaded.name,
        region: &prepared.aws.region,
    };
    match args.output {
        Format::Text => render::out(&text(&plan, &heading)),
        Format::Json => render::out(&format!("{}\n", json_text(&json(&plan, &heading)))),
    }
    if let Some(path) = &args.out {
        let saved = SavedPlan {
            format: FORMAT,
            deployer_version: env!("CARGO_PKG_VERSION").into(),
            profile: prepared.loaded.name.clone(),
            region: prepared.aws.region.clone(),
            created_at: chrono::Utc::now().to_rfc3339(),
            observed: prepared.observed.fingerprints(),
            desired: prepared.desired.clone(),
            plan: plan.clone(),
        };
        saved
            .write(path)
            .map_err(|message| Failure::Stop(message, None))?;
        render::errors::note(&format!(
            "Plan saved to {}. Apply exactly it with: deployer apply {}",
            path.display(),
            path.display()
        ));
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        2
    } else {
        0
    })
}
