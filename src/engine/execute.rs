//! One step of a plan: the handler's create, update, replace or delete of one resource, with
//! the values the plan could not know filled in from what is live now, the tags a create sets,
//! and calls AWS answers "not visible yet" tried again.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Instant;

use super::Context;
use crate::aws::AwsError;
use crate::ids::ResourceId;
use crate::ids::tags::{TAG_APPLIED, TAG_GROUP};
use crate::plan::{Action, Change, Step};
use crate::resources::attributes::{Changes, Val, applied_digest, satisfies};
use crate::resources::observed::Status;
use crate::resources::wait::{next_poll, pace};
use crate::resources::{Handler, Known, Ledger, Live, Resource, StepContext, ownership_tags};

/// One step to carry out, and what it may rely on.
pub struct Work<'a> {
    pub step: &'a Step,
    /// The desired resource (None for what is deleted or left over).
    pub resource: Option<&'a Resource>,
    pub ledger: &'a Ledger,
    pub fresh: &'a BTreeSet<ResourceId>,
    pub announce: &'a (dyn Fn(&str) + Send + Sync),
}

/// Carry out one step. Returns what is live afterwards (None once deleted).
pub async fn step(context: &Context<'_>, work: Work<'_>) -> Result<Option<Live>, AwsError> {
    let Work {
        step,
        resource,
        ledger,
        fresh,
        announce,
    } = work;
    let id = &step.id;
    let handler = context.handler(id);
    let known = Known { ledger, fresh };
    let observed = context.observed.get(id);
    let step_context = |tags: BTreeMap<String, String>| StepContext {
        scope: context.scope(),
        id,
        known,
        observed,
        tags,
        progress: &context.progress,
        options: &context.options,
        handler,
        announce,
    };
    let current = ledger.get(id).cloned();
    match (step.action, resource) {
        (Action::Retain, _) => Ok(current),
        (Action::Delete, _) => {
            let cx = step_context(BTreeMap::new());
            cx.status(&handler.deleting_text(&context.options));
            handler.delete(&cx, current.as_ref()).await?;
            Ok(None)
        }
        // Kept leftovers (an old image, the builder a bake adopts) are nothing to wait for.
        (Action::None, None) => Ok(current),
        (Action::None, Some(_)) => {
            // A resource an earlier, interrupted run left being created: wait for it.
            match observed {
                Some(live) if matches!(live.status, Status::Pending(_)) => {
                    let cx = step_context(BTreeMap::new());
                    cx.status("waiting for it to be ready");
                    let ready = cx.until_ready().await?;
                    context.progress.finish(id, "ready", true);
                    Ok(Some(Live::of(&ready)))
                }
                _ => Ok(current),
            }
        }
        (Action::Create, Some(resource)) => {
            let cx = step_context(tags(context, handler, resource, known));
            if observed.is_some_and(|live| matches!(live.status, Status::Deleting(_))) {
                cx.status("waiting for the old one to be deleted");
                cx.until_gone().await?;
            }
            cx.status("creating");
            visible(&cx, || handler.create(&cx, resource))
                .await
                .map(Some)
        }
        (Action::Update, Some(resource)) => {
            let Some(seen) = observed else {
                return Err(AwsError::other(
                    format!("update {id}"),
                    "it no longer exists; run plan again",
                ));
            };
            let live = current.clone().unwrap_or_else(|| Live::of(seen));
            // What an update creates on the way (an instance profile found missing) is tagged as
            // a create would tag it.
            let cx = step_context(tags(context, handler, resource, known));
            if observed.is_some_and(|live| matches!(live.status, Status::Pending(_))) {
                // AWS refuses changes while a resource is still being created or modified.
                cx.until_ready().await?;
            }
            // The plan's changes, with what it could not know filled in from what is live now.
            let attributes = handler.attributes(resource, known, observed);
            let changes = resolve(&step.changes, &attributes);
            if changes.is_empty() {
                return Ok(Some(live));
            }
            cx.status("updating");
            let planned = Changes {
                changes: &changes,
                attributes: &attributes,
            };
            let physical_id = live.physical_id.clone();
            let live =
                visible(&cx, || handler.update(&cx, resource, planned, live.clone())).await?;
            if let Some(digest) = applied_digest(&attributes) {
                handler.tag(&cx, &physical_id, TAG_APPLIED, &digest).await?;
            }
            Ok(Some(live))
        }
        (Action::Replace, Some(resource)) => {
            if handler.about().holds_data {
                return Err(AwsError::other(
                    format!("replace {id}"),
                    "deployer does not replace resources that hold data",
                ));
            }
            let cx = step_context(BTreeMap::new());
            cx.status("replacing: deleting the old one");
            handler.delete(&cx, current.as_ref()).await?;
            let mut ledger = ledger.clone();
            ledger.remove(id);
            let known = Known {
                ledger: &ledger,
                fresh,
            };
            let cx = StepContext {
                known,
                tags: tags(context, handler, resource, known),
                ..step_context(BTreeMap::new())
            };
            cx.status("replacing: creating the new one");
            visible(&cx, || handler.create(&cx, resource))
                .await
                .map(Some)
        }
        (action, None) => Err(AwsError::other(
            format!("{action:?} {id}"),
            "the resource is not in the desired stack",
        )),
    }
}

/// The planned changes with the values unknown at plan time filled in: a filled-in value the
/// live resource already has is no change; one still unknown (a load balancer to attach again)
/// stays a change.
fn resolve(
    planned: &[Change],
    attributes: &[crate::resources::attributes::Attribute],
) -> Vec<Change> {
    planned
        .iter()
        .filter_map(|change| {
            if change.new.is_some() {
                return Some(change.clone());
            }
            let Some(attribute) = attributes.iter().find(|a| a.key == change.attribute) else {
                return Some(change.clone());
            };
            match &attribute.value {
                Val::Unknown => Some(change.clone()),
                Val::Known(value) => {
                    let same = change
                        .old
                        .as_ref()
                        .is_some_and(|old| satisfies(attribute.mode, old, value));
                    (!same).then(|| Change {
                        new: Some(value.clone()),
                        ..change.clone()
                    })
                }
            }
        })
        .collect()
}

/// Ownership tags, the node group, and the digest of what is being applied (see `TAG_APPLIED`).
fn tags(
    context: &Context<'_>,
    handler: &dyn Handler,
    resource: &Resource,
    known: Known<'_>,
) -> BTreeMap<String, String> {
    let mut tags = ownership_tags(
        context.names.stack(),
        &resource.component,
        &resource.id.name,
    );
    if let Some(group) = &resource.group {
        tags.insert(TAG_GROUP.to_string(), group.clone());
    }
    let attributes = handler.attributes(resource, known, None);
    if let Some(digest) = applied_digest(&attributes) {
        tags.insert(TAG_APPLIED.to_string(), digest);
    }
    tags
}

/// Run `attempt` again while AWS answers that what it names is not visible yet (eventual
/// consistency: a resource just created elsewhere), for up to the visibility timeout.
async fn visible<F, Fut, T>(context: &StepContext<'_>, mut attempt: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    // The time allowed counts from the first "not visible yet", not from the start of a step
    // that may have waited long before it.
    let mut first: Option<Instant> = None;
    let mut ticks = pace(context.options.poll_interval);
    loop {
        match attempt().await {
            Err(error)
                if (error.is_late() || context.handler.not_visible_yet(&error))
                    && first.get_or_insert_with(Instant::now).elapsed()
                        < context.options.visibility_timeout =>
            {
                context.status(&format!(
                    "waiting: not visible yet ({}), trying again",
                    error.code.as_deref().unwrap_or(error.message.as_str())
                ));
                next_poll(&mut ticks, context.id, "not visible yet").await?;
            }
            result => return result,
        }
    }
}
