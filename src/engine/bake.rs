//! The bake: one builder instance from the base image, configured by its user data (the bake
//! template), powered off, imaged as `<stack>-node-<hash12>`, then terminated with its security
//! group. Every step finds what an interrupted run left (an image of that name, a builder of that
//! hash) and carries on from there, so a re-run never launches a second builder.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::wait;
use super::{Context, Live, duration_text};
use crate::aws::{AwsError, image, security_group};
use crate::plan::observed::Status;
use crate::stack::naming::TAG_BAKE_HASH;
use crate::stack::ownership_tags;
use crate::stack::spec::{BakeSpec, Kind, ResourceId};

/// Lines of the builder's console output shown when a bake fails.
const CONSOLE_LINES: usize = 20;

/// Bake the image `id` (tagged `tags`) from `spec`. Returns the image.
pub async fn bake(
    context: &Context<'_>,
    id: &ResourceId,
    spec: &BakeSpec,
    tags: &BTreeMap<String, String>,
) -> Result<Live, AwsError> {
    let aws = context.aws;
    let names = context.desired.names();
    let stack = names.stack();

    // A previous run may have issued CreateImage already.
    if let Some((_, status, _)) = image::find_image(aws, &id.name).await?
        && !matches!(status, Status::Failed(_) | Status::Deleting(_))
    {
        context
            .progress
            .status(id, "adopting the image an earlier bake started");
        let ready = wait::until_ready(context, id).await?;
        clean_up_builders(context, id, spec).await?;
        return Ok(Live {
            physical_id: ready.physical_id,
            ..Live::default()
        });
    }

    // Adopt the builder an interrupted run launched (the emulator ignores client tokens, and AWS
    // forgets them after a while: looking is what prevents a second builder).
    let builder_id = ResourceId::new(Kind::Builder, names.builder(&spec.hash));
    let adopted = image::observe_builders(aws, stack)
        .await?
        .into_iter()
        .find(|b| b.id == builder_id && !matches!(b.status, Status::Deleting(_)));
    let instance = match adopted {
        Some(builder) => {
            context.progress.status(
                id,
                &format!(
                    "adopting builder {} of an earlier bake",
                    builder.physical_id
                ),
            );
            builder.physical_id
        }
        None => {
            let group_name = names.builder_security_group(&spec.hash);
            let group_tags = ownership_tags(stack, "builder-security-group", &group_name);
            let group = security_group::create(
                aws,
                &group_name,
                &spec.vpc_id,
                &format!("deployer {stack}: bake builder, no ingress"),
                &group_tags,
            )
            .await?;
            // No ingress at all: the builder configures itself from its user data.
            security_group::sync_ingress(aws, &group, &[], &BTreeMap::new()).await?;
            let mut builder_tags = ownership_tags(stack, "builder", &builder_id.name);
            builder_tags.insert(TAG_BAKE_HASH.to_string(), spec.hash.clone());
            context
                .progress
                .status(id, &format!("launching a builder from {}", spec.base_image));
            image::launch_builder(aws, spec, &group, &builder_tags).await?
        }
    };

    wait_for_power_off(context, id, spec, &instance).await?;

    context
        .progress
        .status(id, &format!("imaging builder {instance}"));
    image::create_image(aws, &instance, &id.name, tags).await?;
    let ready = wait::until_ready(context, id).await?;
    clean_up_builders(context, id, spec).await?;
    Ok(Live {
        physical_id: ready.physical_id,
        ..Live::default()
    })
}

/// Wait until the builder has stopped (its template powers it off when configured). On a
/// timeout, or if it terminates, show its console output, terminate it and fail.
async fn wait_for_power_off(
    context: &Context<'_>,
    id: &ResourceId,
    spec: &BakeSpec,
    instance: &str,
) -> Result<(), AwsError> {
    let aws = context.aws;
    let begun = Instant::now();
    let limit = Duration::from_secs(spec.timeout_seconds);
    let mut errors = 0;
    let mut ticks = super::wait::pace(context);
    loop {
        let failure = match image::instance_state(aws, instance).await {
            Ok(Some(state)) if image::powered_off(&state) => return Ok(()),
            Ok(Some(state)) if state == "terminated" || state == "shutting-down" => Some(format!(
                "builder {instance} was terminated before it was imaged"
            )),
            Ok(None) => Some(format!("builder {instance} no longer exists")),
            Ok(Some(state)) => {
                errors = 0;
                context.progress.status(
                    id,
                    &format!(
                        "baking: builder {instance} {state}, waiting for it to power off (timeout {})",
                        duration_text(limit)
                    ),
                );
                None
            }
            Err(error) => {
                errors += 1;
                if errors > 5 {
                    return Err(error);
                }
                None
            }
        };
        let failure = failure.or_else(|| {
            (begun.elapsed() >= limit).then(|| {
                format!(
                    "builder {instance} did not power off within the bake timeout ({}); the bake template must end with a power-off",
                    duration_text(limit)
                )
            })
        });
        if let Some(reason) = failure {
            let console = image::console_tail(aws, instance, CONSOLE_LINES).await;
            clean_up_builders(context, id, spec).await?;
            return Err(AwsError::other(
                format!("bake {}", id.name),
                format!(
                    "{reason}. The builder was terminated. The last lines of its console:\n    {}",
                    console.join("\n    ")
                ),
            ));
        }
        ticks.tick().await;
    }
}

/// Terminate the bake's builder and delete its security group.
async fn clean_up_builders(
    context: &Context<'_>,
    id: &ResourceId,
    spec: &BakeSpec,
) -> Result<(), AwsError> {
    let aws = context.aws;
    let names = context.desired.names();
    let builder_id = ResourceId::new(Kind::Builder, names.builder(&spec.hash));
    for builder in image::observe_builders(aws, names.stack()).await? {
        if builder.id != builder_id {
            continue;
        }
        context
            .progress
            .status(id, &format!("terminating builder {}", builder.physical_id));
        terminate_and_wait(context, &builder.id, &builder.physical_id).await?;
    }
    let group = ResourceId::new(
        Kind::SecurityGroup,
        names.builder_security_group(&spec.hash),
    );
    if let Some(live) = crate::aws::stack::observe_one(aws, &group, &names, &spec.vpc_id).await? {
        wait::retry(
            context,
            &group,
            "the builder's network interface to go",
            || security_group::delete(aws, &live.physical_id),
        )
        .await?;
    }
    Ok(())
}

/// Terminate an instance and wait until it is gone.
pub async fn terminate_and_wait(
    context: &Context<'_>,
    id: &ResourceId,
    instance: &str,
) -> Result<(), AwsError> {
    image::terminate(context.aws, instance).await?;
    wait::retry(context, id, "the builder to terminate", || async {
        Ok(matches!(
            image::instance_state(context.aws, instance)
                .await?
                .as_deref(),
            None | Some("terminated")
        ))
    })
    .await
}
