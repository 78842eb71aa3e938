//! The bake: one builder instance from the base image, configured by its user data (the bake
//! template), powered off, imaged as `<stack>-node-<hash12>`, then terminated with its security
//! group. Every step finds what an interrupted run left (an image of that name, a builder of that
//! hash) and carries on from there, so a re-run never launches a second builder.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Spec, calls};
use crate::aws::AwsError;
use crate::ids::ResourceId;
use crate::ids::tags::TAG_BAKE_HASH;
use crate::resources::observed::Status;
use crate::resources::wait::{self, Waiter, duration_text};
use crate::resources::{Live, StepContext, builder, ownership_tags, security_group};

/// Lines of the builder's console output shown when a bake fails.
const CONSOLE_LINES: usize = 20;

/// Bake the image of `context` (tagged `tags`) from `spec`. Returns the image.
pub async fn bake(
    context: &StepContext<'_>,
    spec: &Spec,
    tags: &BTreeMap<String, String>,
) -> Result<Live, AwsError> {
    let aws = context.aws();
    let id = context.id;
    let names = context.names();
    let stack = names.stack();

    // A previous run may have issued CreateImage already.
    if let Some((_, status, _)) = calls::find_image(aws, &id.name).await?
        && !matches!(status, Status::Failed(_) | Status::Deleting(_))
    {
        context.status("adopting the image an earlier bake started");
        let ready = context.until_ready().await?;
        clean_up_builders(context, spec).await?;
        return Ok(Live::named(ready.physical_id));
    }

    // Adopt the builder an interrupted run launched (the emulator ignores client tokens, and AWS
    // forgets them after a while: looking is what prevents a second builder).
    let builder_id = ResourceId::new(builder::KIND, names.builder(&spec.hash));
    let adopted = builder::observe_builders(aws, stack)
        .await?
        .into_iter()
        .find(|b| b.id == builder_id && !matches!(b.status, Status::Deleting(_)));
    let instance = match adopted {
        Some(builder) => {
            context.status(&format!(
                "adopting builder {} of an earlier bake",
                builder.physical_id
            ));
            builder.physical_id
        }
        None => {
            let group_name = names.builder_security_group(&spec.hash);
            let group_tags = ownership_tags(stack, "builder-security-group", &group_name);
            let group = security_group::create_closed(
                aws,
                &group_name,
                &spec.vpc_id,
                &format!("deployer {stack}: bake builder, no ingress"),
                &group_tags,
            )
            .await?;
            let mut builder_tags = ownership_tags(stack, "builder", &builder_id.name);
            builder_tags.insert(TAG_BAKE_HASH.to_string(), spec.hash.clone());
            context.status(&format!("launching a builder from {}", spec.base_image));
            builder::launch(aws, spec, &group, &builder_tags).await?
        }
    };

    wait_for_power_off(context, spec, &instance).await?;

    context.status(&format!("imaging builder {instance}"));
    calls::create_image(aws, &instance, &id.name, tags).await?;
    let ready = context.until_ready().await?;
    clean_up_builders(context, spec).await?;
    Ok(Live::named(ready.physical_id))
}

/// Wait until the builder has stopped (its template powers it off when configured). On a
/// timeout, or if it terminates, show its console output, terminate it and fail.
async fn wait_for_power_off(
    context: &StepContext<'_>,
    spec: &Spec,
    instance: &str,
) -> Result<(), AwsError> {
    let aws = context.aws();
    let begun = Instant::now();
    let limit = Duration::from_secs(spec.timeout_seconds);
    let mut errors = 0;
    // A builder just launched may not be visible for a while (EC2 is eventually consistent):
    // until it has been seen, "not found" means "not yet", not "gone".
    let mut seen = false;
    let mut ticks = wait::pace(context.options.poll_interval);
    loop {
        let failure = match builder::instance_state(aws, instance).await {
            Ok(Some(state)) if builder::powered_off(&state) => return Ok(()),
            Ok(Some(state)) if state == "terminated" || state == "shutting-down" => Some(format!(
                "builder {instance} was terminated before it was imaged"
            )),
            Ok(None) if !seen && begun.elapsed() < context.options.visibility_timeout => {
                context.status(&format!("waiting: builder {instance} not visible yet"));
                None
            }
            Ok(None) => Some(format!("builder {instance} no longer exists")),
            Ok(Some(state)) => {
                seen = true;
                errors = 0;
                context.status(&format!(
                    "baking: builder {instance} {state}, waiting for it to power off (timeout {})",
                    duration_text(limit)
                ));
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
            let console = builder::console_tail(aws, instance, CONSOLE_LINES).await;
            clean_up_builders(context, spec).await?;
            return Err(AwsError::other(
                format!("bake {}", context.id.name),
                format!(
                    "{reason}. The builder was terminated. The last lines of its console:\n    {}",
                    console.join("\n    ")
                ),
            ));
        }
        wait::next_poll(
            &mut ticks,
            context.id,
            &format!("builder {instance} to power off"),
        )
        .await?;
    }
}

/// Terminate the bake's builder and delete its security group.
async fn clean_up_builders(context: &StepContext<'_>, spec: &Spec) -> Result<(), AwsError> {
    let aws = context.aws();
    let names = context.names();
    let builder_id = ResourceId::new(builder::KIND, names.builder(&spec.hash));
    for builder in builder::observe_builders(aws, names.stack()).await? {
        if builder.id != builder_id {
            continue;
        }
        context.status(&format!("terminating builder {}", builder.physical_id));
        builder::terminate_and_wait(context, &builder.physical_id).await?;
    }
    let group = security_group::id(names.builder_security_group(&spec.hash));
    if let Some(live) = security_group::find(aws, &spec.vpc_id, &group.name).await? {
        let waiter = Waiter {
            handler: &security_group::SecurityGroups,
            ..context.waiter()
        };
        wait::retry(
            waiter,
            &group,
            "the builder's network interface to go",
            || security_group::delete(aws, &live.physical_id),
        )
        .await?;
    }
    Ok(())
}
