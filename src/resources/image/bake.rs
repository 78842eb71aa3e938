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
    let builders = builder::observe_builders(aws, stack).await?;
    // A failed bake's builder kept for inspection is replaced, not adopted: it would fail again.
    if builders
        .iter()
        .any(|b| b.id == builder_id && b.tags.contains_key(builder::TAG_KEPT))
    {
        context.status("terminating the builder a failed bake kept for inspection");
        clean_up_builders(context, spec).await?;
    }
    let adopted = builders.into_iter().find(|b| {
        b.id == builder_id
            && !matches!(b.status, Status::Deleting(_))
            && !b.tags.contains_key(builder::TAG_KEPT)
    });
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

/// How long after the builder powered off its console may still lack the template's last lines:
/// AWS posts a stopped instance's console output shortly after the stop ("GetConsoleOutput").
const CONSOLE_GRACE: Duration = Duration::from_secs(180);

/// Whether a console line is a marker the bake template printed (not the shell's trace of the
/// command that prints it, `+ echo 'deployer-bake: done'`): at the line's start, or after a
/// `...]: ` prefix the console may add.
fn printed(line: &str, marker: &str) -> bool {
    let line = line.trim_start();
    line.starts_with(marker) || line.contains(&format!("]: {marker}"))
}

/// What the bake has shown of the builder's console, and what the template said.
#[derive(Default)]
struct Console {
    lines: Vec<String>,
}

impl Console {
    /// Read the console again and show what is new.
    async fn read(&mut self, context: &StepContext<'_>, instance: &str) {
        let Some(lines) = builder::console_lines(context.aws(), instance).await else {
            return;
        };
        // The console keeps its last 64 KiB: when it has rolled over, show it all again.
        let new = if lines.len() >= self.lines.len() && lines.starts_with(&self.lines) {
            &lines[self.lines.len()..]
        } else {
            &lines[..]
        };
        context.progress.output(context.id, new);
        self.lines = lines;
    }

    /// The template's failure line, if it printed one.
    fn failed(&self) -> Option<&str> {
        self.lines
            .iter()
            .rev()
            .find(|l| printed(l, super::BAKE_FAILED))
            .map(|l| l.trim())
    }

    fn done(&self) -> bool {
        self.lines.iter().any(|l| printed(l, super::BAKE_DONE))
    }

    fn tail(&self) -> Vec<String> {
        let lines = if self.lines.is_empty() {
            vec!["(the console output is empty)".to_string()]
        } else {
            self.lines.clone()
        };
        lines[lines.len().saturating_sub(CONSOLE_LINES)..].to_vec()
    }
}

/// Wait until the builder has powered off with the template's success marker on its console,
/// showing the console as it grows. A failure marker fails the bake at once; so do a timeout,
/// a builder that terminates, and one that powers off without the success marker. A failed
/// builder is terminated (or, with `--keep-builder`, left stopped) and its console shown.
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
    let mut console = Console::default();
    let mut stopped_at: Option<Instant> = None;
    let mut ticks = wait::pace(context.options.poll_interval);
    loop {
        let failure = match builder::instance_state(aws, instance).await {
            Ok(Some(state)) if builder::powered_off(&state) => {
                let since = *stopped_at.get_or_insert_with(Instant::now);
                console.read(context, instance).await;
                if let Some(line) = console.failed() {
                    Some(format!("the bake template failed ({line})"))
                } else if console.done() {
                    return Ok(());
                } else if since.elapsed() >= CONSOLE_GRACE.min(limit) {
                    Some(format!(
                        "builder {instance} powered off without printing `{}`: the bake template did not finish",
                        super::BAKE_DONE
                    ))
                } else {
                    context.status(&format!(
                        "builder {instance} stopped: reading its console for the template's last line"
                    ));
                    None
                }
            }
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
                console.read(context, instance).await;
                context.status(&format!(
                    "baking: builder {instance} {state}, waiting for it to power off (timeout {})",
                    duration_text(limit)
                ));
                console
                    .failed()
                    .map(|line| format!("the bake template failed ({line})"))
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
            (begun.elapsed() >= limit && stopped_at.is_none()).then(|| {
                format!(
                    "builder {instance} did not power off within the bake timeout ({}); the bake template must end with a power-off",
                    duration_text(limit)
                )
            })
        });
        if let Some(reason) = failure {
            if console.lines.is_empty() {
                console.read(context, instance).await;
            }
            let tail = console.tail();
            let kept = if context.options.keep_failed_builder {
                builder::keep(aws, instance).await?;
                format!(
                    "The builder {instance} is kept, stopped, with its disk and security group, for inspection; `deployer plan` lists it, and the next bake or apply deletes it"
                )
            } else {
                clean_up_builders(context, spec).await?;
                "The builder was terminated (`deployer bake --keep-builder` keeps a failed one for inspection)".to_string()
            };
            return Err(AwsError::other(
                format!("bake {}", context.id.name),
                format!(
                    "{reason}. {kept}. The last lines of its console:\n    {}",
                    tail.join("\n    ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_counts_where_the_template_printed_it_not_in_the_shell_trace() {
        let done = super::super::BAKE_DONE;
        assert!(printed("deployer-bake: done", done));
        assert!(printed(
            "[  41.2] cloud-init[1201]: deployer-bake: done",
            done
        ));
        assert!(!printed("+ echo 'deployer-bake: done'", done));
        assert!(!printed(
            "+ trap 'echo \"deployer-bake: failed: exit $? at line $LINENO\" >/dev/console; sync; poweroff' ERR",
            super::super::BAKE_FAILED
        ));
        let console = Console {
            lines: vec![
                "+ trap 'echo \"deployer-bake: failed: exit $? at line $LINENO\"' ERR".into(),
                "+ dnf -y install nginx".into(),
                "Error: Unable to find a match: nginx".into(),
                "deployer-bake: failed: exit 1 at line 31".into(),
            ],
        };
        assert_eq!(
            console.failed(),
            Some("deployer-bake: failed: exit 1 at line 31")
        );
        assert!(!console.done());
    }
}
