//! Baked images in the plan: whether the bake is up to date (and which inputs changed since the
//! newest image), which of the stack's images retention keeps, and what becomes of the builders
//! and builder security group an interrupted bake left.

use std::collections::BTreeSet;

use super::observed::{Observed, ObservedResource};
use super::{Action, Step};
use crate::stack::Desired;
use crate::stack::naming::TAG_BAKE_HASH;
use crate::stack::spec::{BakeSpec, Kind, ResourceId, Spec};

/// The bakes the desired stack asks for: one per node group that bakes.
pub fn bakes_of(desired: &Desired) -> Vec<(&ResourceId, &BakeSpec)> {
    desired
        .resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::Image(spec) => Some((&r.id, spec.as_ref())),
            _ => None,
        })
        .collect()
}

use crate::stack::naming::image_prefix as prefix_of;

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
                .filter(|r| prefix_of(&r.id.name) == prefix_of(&step.id.name))
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

/// The stack's images retention deletes: per node group, all but the newest `keep` of the
/// group's images (the desired image counts, and is the newest when it is about to be baked),
/// never one a launch template version in use references.
pub fn retention(
    desired: &Desired,
    observed: &Observed,
    baking: &[&BakeSpec],
) -> BTreeSet<ResourceId> {
    let bakes = bakes_of(desired);
    let mut prefixes: BTreeSet<&str> = observed
        .resources
        .iter()
        .filter(|r| r.id.kind == Kind::Image)
        .map(|r| prefix_of(&r.id.name))
        .collect();
    prefixes.extend(bakes.iter().map(|(id, _)| prefix_of(&id.name)));
    let mut deleted = BTreeSet::new();
    for prefix in prefixes {
        let desired_image = bakes
            .iter()
            .find(|(id, _)| prefix_of(&id.name) == prefix)
            .copied();
        let mut images: Vec<&ObservedResource> = observed
            .resources
            .iter()
            .filter(|r| r.id.kind == Kind::Image && prefix_of(&r.id.name) == prefix)
            .filter(|r| Some(&r.id) != desired_image.map(|(id, _)| id))
            .collect();
        images.sort_by(|a, b| created_at(b).cmp(created_at(a)));
        let mut slots = desired.keep_images_of(prefix);
        if let Some((id, spec)) = desired_image {
            let bakes_now = baking.iter().any(|b| b.hash == spec.hash);
            if bakes_now || observed.get(id).is_some() {
                slots = slots.saturating_sub(1);
            }
        }
        deleted.extend(
            images
                .into_iter()
                .skip(slots)
                .filter(|image| image.attributes.get("in_use") != Some(&serde_json::json!(true)))
                .map(|image| image.id.clone()),
        );
    }
    deleted
}

/// What becomes of a leftover that belongs to baking (an image, a builder, the builder's
/// security group); None for anything else.
pub fn leftover(
    live: &ObservedResource,
    desired: &Desired,
    baking: &[&BakeSpec],
    deleted_by_retention: &BTreeSet<ResourceId>,
) -> Option<(Action, Option<String>)> {
    let names = desired.names();
    match live.id.kind {
        Kind::Image if deleted_by_retention.contains(&live.id) => Some((
            Action::Delete,
            Some(format!(
                "retention: the newest {} images are kept, and any in use",
                desired.keep_images_of(prefix_of(&live.id.name))
            )),
        )),
        Kind::Image => Some((Action::None, None)),
        Kind::Snapshot => Some((
            Action::Delete,
            Some("its image is gone: left by an interrupted deletion".into()),
        )),
        Kind::Builder
            if baking
                .iter()
                .any(|spec| live.tags.get(TAG_BAKE_HASH) == Some(&spec.hash)) =>
        {
            Some((
                Action::None,
                Some("an interrupted bake's builder: the bake adopts it".into()),
            ))
        }
        Kind::Builder => Some((Action::Delete, Some("left by an interrupted bake".into()))),
        Kind::SecurityGroup if names.is_builder_security_group(&live.id.name) => {
            let adopted = baking
                .iter()
                .any(|spec| live.id.name == names.builder_security_group(&spec.hash));
            Some(if adopted {
                (Action::None, None)
            } else {
                (Action::Delete, Some("left by an interrupted bake".into()))
            })
        }
        _ => None,
    }
}
