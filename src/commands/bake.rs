//! `deployer bake`: only the image part of a plan: bake when the inputs changed, adopt or clean
//! up what an interrupted bake left, and apply retention.

use std::collections::BTreeSet;

use super::{Failure, Prepared, confirm, make_plan, poll_interval, prepare, release, warn};
use crate::cli::{BakeArgs, Global};
use crate::engine::{self, Context, Options};
use crate::ids::ResourceId;
use crate::plan::{Action, Plan};
use crate::render::plan::{Heading, text_saying};
use crate::render::progress::Progress;
use crate::render::report::{BakeReport, Image, emit};
use crate::render::{self, Format, errors};
use crate::resources::{REGISTRY, image};

pub async fn run(global: &Global, args: &BakeArgs) -> Result<i32, Failure> {
    let mut prepared = prepare(global, Some("bake")).await?;
    let lock = prepared.lock.take();
    let result = bake(global, args, prepared).await;
    release(lock).await;
    result
}

async fn bake(global: &Global, args: &BakeArgs, prepared: Prepared) -> Result<i32, Failure> {
    let profile = &prepared.loaded.profile;
    if profile.node.bake.is_none() && profile.groups.values().all(|g| g.node.bake.is_none()) {
        return Err(Failure::Profile(
            prepared
                .loaded
                .error_at(
                    "node",
                    "this profile bakes nothing: it names an existing image",
                )
                .with_hint("add a [node.bake] table with base_image (and drop `image`) to bake")
                .into(),
        ));
    }
    warn(&prepared.desired);
    let full = make_plan(&prepared.desired, &prepared.observed)?;
    let names = prepared.desired.names();
    // The bake's own steps, and the creates of what they need that is not there yet (the network
    // of a VPC deployer creates, before the first apply).
    let creates: BTreeSet<&ResourceId> = full
        .steps
        .iter()
        .filter(|s| s.action.creates())
        .map(|s| &s.id)
        .collect();
    let mut wanted: BTreeSet<ResourceId> = full
        .steps
        .iter()
        .filter(|s| image::is_part_of_a_bake(&s.id, &names))
        .map(|s| s.id.clone())
        .collect();
    loop {
        let needed: Vec<ResourceId> = prepared
            .desired
            .resources
            .iter()
            .filter(|r| wanted.contains(&r.id))
            .flat_map(|r| r.depends_on.iter())
            .filter(|id| creates.contains(id) && !wanted.contains(*id))
            .cloned()
            .collect();
        if needed.is_empty() {
            break;
        }
        wanted.extend(needed);
    }
    let plan = Plan {
        stack: full.stack.clone(),
        steps: full
            .steps
            .into_iter()
            .filter(|s| wanted.contains(&s.id))
            .map(|mut s| {
                // Only the order among these steps (a builder before its group).
                s.depends_on.retain(|id| wanted.contains(id));
                s.after.retain(|id| wanted.contains(id));
                s
            })
            .collect(),
    };
    // Held to what the bake sends (a builder's vCPUs), not to the rest of the stack's plan.
    super::accepted(&prepared, &plan).await?;
    let baked: Vec<ResourceId> = prepared
        .desired
        .resources
        .iter()
        .filter(|r| r.id.kind == image::KIND)
        .map(|r| r.id.clone())
        .collect();
    let text_mode = args.output == Format::Text;
    if text_mode {
        render::out(&text_saying(
            &plan,
            &Heading {
                profile: &prepared.loaded.name,
                region: &prepared.aws.region,
            },
            "No bake needed: the images match the profile (bake looks at images only; `deployer plan` shows the rest of the stack).",
        ));
    }
    let live = if plan.has_changes() {
        if plan.steps.iter().any(|s| s.action == Action::Delete) && !args.yes {
            confirm(
                &format!("Bake and clean up the images of stack {}?", plan.stack),
                "yes",
                "--yes",
            )
            .await?;
        }
        let context = Context {
            aws: &prepared.aws,
            handlers: REGISTRY,
            names: &names,
            vpc_id: &prepared.desired.environment.vpc_id,
            observed: &prepared.observed,
            progress: if text_mode {
                Progress::for_stderr()
            } else {
                Progress::quiet()
            },
            options: Options {
                poll_interval: poll_interval(global.poll_interval),
                keep_failed_builder: args.keep_builder,
                ..Options::default()
            },
        };
        let outcome = engine::apply(
            &context,
            &prepared.desired.resources,
            &plan,
            crate::interrupt::flag(),
        )
        .await;
        if !outcome.succeeded() {
            errors::run_failures(&outcome.failed, &[]);
            if outcome.interrupted {
                errors::note("interrupted: `deployer bake` (or apply) adopts the running builder");
                return Ok(crate::interrupt::exit_code());
            }
            return Err(Failure::stop(
                "the bake failed",
                "fix the bake template (its console output is above) and run `deployer bake` again",
            ));
        }
        outcome.ledger
    } else {
        engine::ledger_of(&prepared.observed)
    };
    let images: Vec<Image> = baked
        .iter()
        .filter_map(|id| {
            live.get(id).map(|image| Image {
                name: id.name.clone(),
                id: image.physical_id.clone(),
            })
        })
        .collect();
    let report = BakeReport {
        stack: plan.stack.clone(),
        image: images.first().cloned(),
        images,
    };
    // Text: the images, when there are any. JSON: the document, whatever it holds.
    if report.image.is_some() || !text_mode {
        emit(&report, args.output);
    }
    Ok(0)
}
