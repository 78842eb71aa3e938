//! A baked node image (AMI), named after the content hash of everything that shapes it, so an
//! unchanged bake is found and reused, never repeated. Creating one is the bake (see `bake`).
//! Retention keeps the newest images of each node group, and always the ones in use.

mod bake;
mod calls;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attributes::Action;
use super::observed::{Observed, ObservedResource};
use super::{
    About, Live, NoteContext, PlanScope, Resource, ResourceKind, Scope, StepContext,
    auto_scaling_group, launch_template,
};
use crate::aws::{AwsError, ec2};
use crate::ids::names::image_prefix as prefix_of;
use crate::ids::tags::TAG_BAKE_HASH;
use crate::ids::{Kind, ResourceId};
use crate::resources::quota::QuotaUse;

pub const KIND: Kind = Kind::new("image", "image");

/// What a bake template prints to the console as its last line when the node is configured: a
/// builder that powers off without it is not imaged.
pub const BAKE_DONE: &str = "deployer-bake: done";
/// What a bake template prints to the console when a step fails (its trap then powers off): the
/// bake fails at the next poll, with the console's last lines.
pub const BAKE_FAILED: &str = "deployer-bake: failed";

/// What observation records of an image.
pub const CREATED_AT: &str = "created_at";
pub const IN_USE: &str = "in_use";
pub const SNAPSHOTS: &str = "snapshots";

/// A bake: a builder from `base_image`, configured by `user_data`, powered off, imaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The content hash of everything that shapes the image.
    pub hash: String,
    /// The resolved base AMI id.
    pub base_image: String,
    /// The bake template's path, for messages.
    pub template: String,
    /// The rendered bake template: the builder's user data.
    pub user_data: String,
    pub instance_type: String,
    pub volume_size: i32,
    pub volume_type: String,
    pub timeout_seconds: u64,
    pub vpc_id: String,
    pub subnet: String,
    /// Whether the builder gets a public IP: in a subnet whose way out is an internet gateway.
    #[serde(default)]
    pub public_ip: bool,
    /// What shaped the image, as recorded in its tags (for "inputs changed").
    pub inputs: BTreeMap<String, String>,
}

/// How many images of each node group to keep (the images in use are always kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    /// For images of no group listed below (the main group's, and any other's).
    pub default: usize,
    /// By image prefix (`<stack>-<group>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_prefix: BTreeMap<String, usize>,
}

impl Retention {
    pub fn keep(&self, prefix: &str) -> usize {
        self.by_prefix.get(prefix).copied().unwrap_or(self.default)
    }
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

/// Whether a step belongs to a bake: an image, a builder, or a builder's security group.
pub fn is_part_of_a_bake(id: &ResourceId, names: &crate::ids::names::Names) -> bool {
    id.kind == KIND
        || id.kind == super::builder::KIND
        || (id.kind == super::security_group::KIND && names.is_builder_security_group(&id.name))
}

/// The bakes the plan runs: the desired images it creates.
pub fn baking(plan: &PlanScope<'_>) -> Vec<Spec> {
    plan.desired_of::<Images>()
        .into_iter()
        .filter(|(resource, _)| plan.action(&resource.id).is_some_and(Action::creates))
        .map(|(_, spec)| spec)
        .collect()
}

/// The base image each group's newest available image was baked from (its
/// `deployer:base-image` tag), by image prefix, among the observed images: what a bake from a
/// moving base image (a lookup, a parameter) stays on until told to refresh.
pub fn baked_from(observed: &Observed) -> BTreeMap<String, String> {
    let mut newest: BTreeMap<&str, &ObservedResource> = BTreeMap::new();
    for image in observed
        .resources
        .iter()
        .filter(|r| r.id.kind == KIND && r.status == crate::resources::observed::Status::Ready)
    {
        let prefix = prefix_of(&image.id.name);
        if newest
            .get(prefix)
            .is_none_or(|seen| created_at(seen) < created_at(image))
        {
            newest.insert(prefix, image);
        }
    }
    newest
        .into_iter()
        .filter_map(|(prefix, image)| {
            Some((
                prefix.to_string(),
                image.tags.get(crate::ids::tags::TAG_BASE_IMAGE)?.clone(),
            ))
        })
        .collect()
}

fn created_at(image: &ObservedResource) -> &str {
    image
        .attributes
        .get(CREATED_AT)
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

pub struct Images;

impl ResourceKind for Images {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            artifact: true,
            // Imaging takes up to ~30 minutes for big volumes.
            wait_limit: Duration::from_secs(60 * 60),
            ..About::new("EC2 AMI (baked)")
        }
    }

    /// A bake runs one builder instance.
    fn quota_use(&self, spec: &Spec) -> Vec<QuotaUse> {
        vec![QuotaUse::WhileCreating {
            instance_type: spec.instance_type.clone(),
        }]
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeImages",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:CreateImage",
            "ec2:CreateTags",
            "ec2:DeregisterImage",
            "ec2:DeleteSnapshot",
        ]
    }

    /// Whether the bake is up to date, or why a new image is baked.
    fn note(&self, context: &NoteContext<'_>, spec: &Spec) -> Option<String> {
        if let Some(note) = context.note {
            return Some(note.to_string());
        }
        let id = &context.resource.id;
        match context.action {
            Action::None => Some("bake: up to date".into()),
            Action::Create => {
                let newest = context
                    .plan
                    .observed
                    .resources
                    .iter()
                    .filter(|r| r.id.kind == KIND && &r.id != id)
                    .filter(|r| prefix_of(&r.id.name) == prefix_of(&id.name))
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

    /// An image the profile no longer asks for is kept, unless retention deletes it.
    fn leftover(
        &self,
        live: &ObservedResource,
        plan: &PlanScope<'_>,
    ) -> Option<(Action, Option<String>)> {
        Some(if retention(plan).contains(&live.id) {
            (
                Action::Delete,
                Some(format!(
                    "retention: the newest {} images are kept, and any in use",
                    plan.retention.keep(prefix_of(&live.id.name))
                )),
            )
        } else {
            (Action::None, None)
        })
    }

    fn outputs(&self, id: &ResourceId, live: &Live) -> Vec<(&'static str, String)> {
        vec![("image", format!("{} ({})", id.name, live.physical_id))]
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        calls::observe_images(scope.aws, scope.names.stack()).await
    }

    /// Mark the images that launch template versions in use reference.
    async fn refine(&self, scope: Scope<'_>, observed: &mut Observed) -> Result<(), AwsError> {
        if !observed.resources.iter().any(|r| r.id.kind == KIND) {
            return Ok(());
        }
        let each = observed
            .resources
            .iter()
            .filter(|r| r.id.kind == launch_template::KIND)
            .map(|template| images_in_use(scope, template, observed));
        let in_use: BTreeSet<String> = futures::future::try_join_all(each)
            .await?
            .into_iter()
            .flatten()
            .collect();
        for image in observed.resources.iter_mut().filter(|r| r.id.kind == KIND) {
            if in_use.contains(&image.physical_id) {
                image.attributes.insert(IN_USE.into(), Value::Bool(true));
            }
        }
        Ok(())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        calls::tagged(scope.aws, scope.names.stack()).await
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        _resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let mut tags = context.tags.clone();
        tags.insert(TAG_BAKE_HASH.to_string(), spec.hash.clone());
        tags.extend(spec.inputs.clone());
        bake::bake(context, spec, &tags).await
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        match live {
            Some(image) => calls::deregister(context.aws(), &image.physical_id).await,
            None => Ok(()),
        }
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        ec2::set_tag(context.aws(), context.id, physical_id, key, value).await
    }

    /// A bake creates its builder's security group and launches the builder before it images
    /// it: any of the three may not be visible yet. Tried again, the bake adopts what it made.
    fn not_visible_yet(&self, error: &AwsError) -> bool {
        error.is("InvalidAMIID.NotFound")
            || error.is("InvalidGroup.NotFound")
            || error.is("InvalidInstanceID.NotFound")
    }
}

/// The images one launch template's versions in use reference: its newest version's, the
/// version its group runs, and the versions the group's instances were launched from.
async fn images_in_use(
    scope: Scope<'_>,
    template: &ObservedResource,
    observed: &Observed,
) -> Result<BTreeSet<String>, AwsError> {
    let mut in_use: BTreeSet<String> = template
        .attributes
        .get(launch_template::IMAGE)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .into_iter()
        .collect();
    let mut versions = BTreeSet::new();
    let runs = format!("{} v", template.id.name);
    let group = observed.resources.iter().find(|r| {
        r.id.kind == auto_scaling_group::KIND
            && r.attributes
                .get(auto_scaling_group::LAUNCH_TEMPLATE)
                .and_then(|v| v.as_str())
                .is_some_and(|text| text.starts_with(&runs))
    });
    if let Some(group) = group {
        if let Some(version) = group
            .attributes
            .get(auto_scaling_group::LAUNCH_TEMPLATE)
            .and_then(|v| v.as_str())
            .and_then(|text| text.rsplit_once(" v"))
        {
            versions.insert(version.1.to_string());
        }
        if let Some(list) = group
            .attributes
            .get(auto_scaling_group::INSTANCE_VERSIONS)
            .and_then(|v| v.as_array())
        {
            versions.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_string));
        }
    }
    // The newest version's image is known already: read only the older versions in use (none,
    // when the group and all its instances run the newest).
    if let Some(latest) = template.outputs.version {
        versions.remove(&latest.to_string());
    }
    in_use.extend(calls::images_of_versions(scope.aws, &template.physical_id, &versions).await?);
    Ok(in_use)
}

/// The stack's images retention deletes: per node group, all but the newest `keep` of the
/// group's images (the desired image counts, and is the newest when it is about to be baked),
/// never one a launch template version in use references.
pub fn retention(plan: &PlanScope<'_>) -> BTreeSet<ResourceId> {
    let bakes = plan.desired_of::<Images>();
    let baking = baking(plan);
    let observed = plan.observed;
    let mut prefixes: BTreeSet<&str> = observed
        .resources
        .iter()
        .filter(|r| r.id.kind == KIND)
        .map(|r| prefix_of(&r.id.name))
        .collect();
    prefixes.extend(bakes.iter().map(|(r, _)| prefix_of(&r.id.name)));
    let mut deleted = BTreeSet::new();
    for prefix in prefixes {
        let desired_image = bakes.iter().find(|(r, _)| prefix_of(&r.id.name) == prefix);
        let mut images: Vec<&ObservedResource> = observed
            .resources
            .iter()
            .filter(|r| r.id.kind == KIND && prefix_of(&r.id.name) == prefix)
            .filter(|r| Some(&r.id) != desired_image.map(|(r, _)| &r.id))
            .collect();
        images.sort_by(|a, b| created_at(b).cmp(created_at(a)));
        let mut slots = plan.retention.keep(prefix);
        if let Some((resource, spec)) = desired_image {
            let bakes_now = baking.iter().any(|b| b.hash == spec.hash);
            if bakes_now || observed.get(&resource.id).is_some() {
                slots = slots.saturating_sub(1);
            }
        }
        deleted.extend(
            images
                .into_iter()
                .skip(slots)
                .filter(|image| image.attributes.get(IN_USE) != Some(&Value::Bool(true)))
                .map(|image| image.id.clone()),
        );
    }
    deleted
}
