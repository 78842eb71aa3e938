//! Baked images in the plan: whether the bake is up to date (and which inputs changed since the
//! newest image), which of the stack's images retention keeps, and what becomes of the builders
//! and builder security group an interrupted bake left.

use std::collections::BTreeSet;

use super::observed::{Observed, ObservedResource};
use super::{Action, Step};
use crate::stack::Desired;
use crate::stack::naming::{TAG_BAKE_HASH, Tier};
use crate::stack::spec::{BakeSpec, Kind, ResourceId, Spec};

/// The bake the desired stack asks for, if any.
pub fn bake_of(desired: &Desired) -> Option<(&ResourceId, &BakeSpec)> {
    desired.resources.iter().find_map(|r| match &r.spec {
        Spec::Image(spec) => Some((&r.id, spec.as_ref())),
        _ => None,
    })
}

fn created_at(image: &ObservedResource) -> &str {
    image
        .attributes
        .get("created_at")
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// What the plan says of the bake: up to date, or a new image and why.
pub fn bake_note(spec: &BakeSpec, step: &Step, observed: &Observed) -> Option<String> {
    match step.action {
        Action::None => Some("bake: up to date".into()),
        Action::Create => {
            let newest = observed
                .resources
                .iter()
                .filter(|r| r.id.kind == Kind::Image && r.id != step.id)
                .max_by(|a, b| created_at(a).cmp(created_at(b)));
            let Some(newest) = newest else {
                return Some("bake: new image (first bake)".into());
            };
            let changed: Vec<String> = spec
                .inputs
                .iter()
                .filter(|(key, value)| newest.tags.get(*key) != Some(value))
                .map(|(key, value)| {
                    let label = key.trim_start_matches("deployer:").replace('-', " ");
                    match newest.tags.get(key) {
                        Some(old) if key.as_str() != "deployer:bake-template" => {
                            format!("{label} {old} -> {value}")
                        }
                        _ => label,
                    }
                })
                .collect();
            Some(if changed.is_empty() {
                format!(
                    "bake: new image (the newest, {}, has other inputs)",
                    newest.id.name
                )
            } else {
                format!("bake: new image (inputs changed: {})", changed.join(", "))
            })
        }
        _ => None,
    }
}

/// The stack's images retention deletes: all but the newest `keep` (the desired image counts,
/// and is the newest when it is about to be baked), never one a launch template version in use
/// references.
pub fn retention(desired: &Desired, observed: &Observed, baking: bool) -> BTreeSet<ResourceId> {
    let desired_image = bake_of(desired).map(|(id, _)| id);
    let mut images: Vec<&ObservedResource> = observed
        .resources
        .iter()
        .filter(|r| r.id.kind == Kind::Image && Some(&r.id) != desired_image)
        .collect();
    images.sort_by(|a, b| created_at(b).cmp(created_at(a)));
    let mut slots = desired.keep_images;
    if desired_image.is_some() && (baking || observed.get(desired_image.unwrap()).is_some()) {
        slots = slots.saturating_sub(1);
    }
    images
        .into_iter()
        .skip(slots)
        .filter(|image| image.attributes.get("in_use") != Some(&serde_json::json!(true)))
        .map(|image| image.id.clone())
        .collect()
}

/// What becomes of a leftover that belongs to baking (an image, a builder, the builder's
/// security group); None for anything else.
pub fn leftover(
    live: &ObservedResource,
    desired: &Desired,
    baking: Option<&BakeSpec>,
    deleted_by_retention: &BTreeSet<ResourceId>,
) -> Option<(Action, Option<String>)> {
    let names = desired.names();
    match live.id.kind {
        Kind::Image if deleted_by_retention.contains(&live.id) => Some((
            Action::Delete,
            Some(format!(
                "retention: the newest {} images are kept, and any in use",
                desired.keep_images
            )),
        )),
        Kind::Image => Some((Action::None, None)),
        Kind::Snapshot => Some((
            Action::Delete,
            Some("its image is gone: left by an interrupted deletion".into()),
        )),
        Kind::Builder => match baking {
            Some(spec) if live.tags.get(TAG_BAKE_HASH) == Some(&spec.hash) => Some((
                Action::None,
                Some("an interrupted bake's builder: the bake adopts it".into()),
            )),
            _ => Some((Action::Delete, Some("left by an interrupted bake".into()))),
        },
        Kind::SecurityGroup if live.id.name == names.security_group(Tier::Builder) => {
            Some(match baking {
                Some(_) => (Action::None, None),
                None => (Action::Delete, Some("left by an interrupted bake".into())),
            })
        }
        _ => None,
    }
}
