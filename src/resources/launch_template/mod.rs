//! The EC2 launch template of a node group: its image (baked or brought), instance type,
//! encrypted volume, IMDSv2, no public IP, security group, instance profile, and the boot user
//! data rendered with the stack's endpoints. Each change is a new version, made the default.

mod calls;
pub mod user_data;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attributes::{Attribute, Attributes, Change, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource};
use super::{
    About, Known, Live, Resource, ResourceKind, Scope, StepContext, cache, cache_auth_secret,
    database, image, load_balancer, node_role, ownership_tags, security_group,
};
use crate::aws::{AwsError, ec2};
use crate::ids::{Kind, ResourceId};
use crate::resources::quota::{Quota, QuotaUse};
use user_data::{BootTemplate, CacheEndpoint, DatabaseEndpoint, Endpoints};

pub const KIND: Kind = Kind::new("launch-template", "launch template");

/// The attributes plan compares.
pub const IMAGE: &str = "image";
pub const INSTANCE_TYPE: &str = "instance_type";
pub const VOLUME_SIZE: &str = "volume_size";
pub const VOLUME_TYPE: &str = "volume_type";
pub const VOLUME_ENCRYPTED: &str = "volume_encrypted";
pub const HTTP_TOKENS: &str = "http_tokens";
pub const PUBLIC_IP: &str = "public_ip";
pub const SECURITY_GROUPS: &str = "security_groups";
pub const INSTANCE_PROFILE: &str = "instance_profile";
pub const USER_DATA: &str = "user_data";

/// Where the nodes' image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeImage {
    /// An existing AMI id.
    Fixed(String),
    /// The image resource baked by this stack (its name).
    Baked(String),
}

/// The resources whose outputs the boot template is rendered with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointSources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_auth_secret: Option<String>,
    /// Each extra group's load balancer, by group name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub image: NodeImage,
    pub instance_type: String,
    pub volume_size: i32,
    pub volume_type: String,
    pub security_group: String,
    pub instance_profile: String,
    pub boot: BootTemplate,
    #[serde(default)]
    pub endpoints: EndpointSources,
}

impl Spec {
    /// The endpoints the boot template needs, from what is known of their resources.
    pub fn endpoints(&self, known: Known<'_>) -> Endpoints {
        let sources = &self.endpoints;
        let database = sources.database.as_ref().and_then(|name| {
            let live = known.get(&database::id(name.as_str()))?;
            let (host, port) = live.outputs.endpoint.clone()?;
            Some(DatabaseEndpoint {
                host,
                port,
                secret_arn: live.outputs.arn.clone()?,
            })
        });
        let cache = sources.cache.as_ref().and_then(|name| {
            let live = known.get(&cache::id(name.as_str()))?;
            let (host, port) = live.outputs.endpoint.clone()?;
            let auth_secret_arn = match &sources.cache_auth_secret {
                Some(secret) => Some(
                    known
                        .get(&cache_auth_secret::id(secret.as_str()))?
                        .outputs
                        .arn
                        .clone()?,
                ),
                None => None,
            };
            Some(CacheEndpoint {
                host,
                port,
                auth_secret_arn,
            })
        });
        let groups = sources
            .groups
            .iter()
            .filter_map(|(group, lb)| {
                load_balancer::dns_name(known, &load_balancer::id(lb.as_str()))
                    .map(|dns| (group.clone(), dns))
            })
            .collect();
        Endpoints {
            database,
            cache,
            groups,
        }
    }

    /// The image id, once known.
    pub fn image_id(&self, known: Known<'_>) -> Option<String> {
        match &self.image {
            NodeImage::Fixed(id) => Some(id.clone()),
            NodeImage::Baked(name) => known
                .physical_id(&image::id(name.as_str()))
                .map(str::to_string),
        }
    }
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

/// The version a launch template is at, once known.
pub fn version(known: Known<'_>, name: &str) -> Option<i64> {
    known.get(&id(name)).and_then(|live| live.outputs.version)
}

pub struct LaunchTemplates;

impl ResourceKind for LaunchTemplates {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            per_node_group: true,
            ..About::new("EC2 launch template")
        }
    }

    fn quota_use(&self, _spec: &Spec) -> Vec<QuotaUse> {
        vec![QuotaUse::Count(Quota::LaunchTemplates, 1)]
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:DescribeImages",
            "ec2:CreateLaunchTemplate",
            "ec2:CreateTags",
            "ec2:CreateLaunchTemplateVersion",
            "ec2:ModifyLaunchTemplate",
            "ec2:DeleteLaunchTemplate",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        lt: &Spec,
        known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        use Mode::*;
        let endpoints = lt.endpoints(known);
        let user_data = if endpoints.cover(&lt.boot.context).is_err() {
            None
        } else {
            // The template was checked when the stack was built; a failure here (only
            // possible with real endpoints) surfaces when applying.
            lt.boot.render(&endpoints).ok().map(Value::from)
        };
        Attributes::new()
            .maybe(IMAGE, lt.image_id(known).map(Value::from), InPlace)
            .set(INSTANCE_TYPE, lt.instance_type.as_str(), InPlace)
            .set(VOLUME_SIZE, lt.volume_size, InPlace)
            .set(VOLUME_TYPE, lt.volume_type.as_str(), InPlace)
            .set(VOLUME_ENCRYPTED, true, InPlace)
            .set(HTTP_TOKENS, "required", InPlace)
            .set(PUBLIC_IP, false, InPlace)
            .set(
                SECURITY_GROUPS,
                sorted([lt.security_group.clone()]),
                InPlace,
            )
            .set(INSTANCE_PROFILE, lt.instance_profile.as_str(), InPlace)
            .maybe(USER_DATA, user_data, InPlace)
            .build()
    }

    /// Every update is a new version.
    fn keeps_outputs(&self, _changes: &[Change]) -> bool {
        false
    }

    /// Its security group, the node role and the image it launches go after it.
    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let mut uses = super::names_in(live, SECURITY_GROUPS, security_group::KIND, observed);
        uses.extend(super::names_in(
            live,
            INSTANCE_PROFILE,
            node_role::KIND,
            observed,
        ));
        if let Some(ami) = live.attributes.get(IMAGE).and_then(Value::as_str) {
            uses.extend(
                observed
                    .resources
                    .iter()
                    .filter(|r| r.id.kind == image::KIND && r.physical_id == ami)
                    .map(|r| r.id.clone()),
            );
        }
        uses
    }

    fn outputs(&self, id: &ResourceId, live: &Live) -> Vec<(&'static str, String)> {
        live.outputs
            .version
            .iter()
            .map(|version| ("launch_template", format!("{} v{version}", id.name)))
            .collect()
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let names: Vec<String> = scope
            .node_groups()
            .into_iter()
            .map(|group| group.launch_template)
            .collect();
        calls::describe(scope.aws, &names).await
    }

    async fn observe_one(
        &self,
        scope: Scope<'_>,
        id: &ResourceId,
    ) -> Result<Option<ObservedResource>, AwsError> {
        Ok(calls::describe(scope.aws, std::slice::from_ref(&id.name))
            .await?
            .into_iter()
            .next())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        let found = scope
            .aws
            .ec2
            .describe_launch_templates()
            .filters(ec2::stack_filter(scope.names.stack()))
            .send()
            .await
            .map_err(crate::aws::fail("scan launch templates"))?;
        Ok(found
            .launch_templates()
            .iter()
            .map(|template| {
                (
                    format!(
                        "launch template {}",
                        template.launch_template_name().unwrap_or_default()
                    ),
                    template
                        .launch_template_id()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect())
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let data = launch_data(context, &resource.id, spec).await?;
        let (template_id, version) =
            calls::create(context.aws(), &resource.id.name, &data, &context.tags).await?;
        let mut live = Live::named(template_id);
        live.outputs.version = Some(version);
        Ok(live)
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        _changes: Changes<'_>,
        mut live: Live,
    ) -> Result<Live, AwsError> {
        let data = launch_data(context, &resource.id, spec).await?;
        let version =
            calls::create_version(context.aws(), &live.physical_id, &resource.id.name, &data)
                .await?;
        live.outputs.version = Some(version);
        Ok(live)
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        match live {
            Some(template) => calls::delete(context.aws(), &template.physical_id).await,
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

    /// A new template, or the instance profile it names, is not seen at once.
    fn not_visible_yet(&self, error: &AwsError) -> bool {
        error.is("InvalidLaunchTemplateId.NotFound")
            || error.is("InvalidLaunchTemplateName.NotFoundException")
            || error.is("InvalidAMIID.NotFound")
            || (error.is("InvalidParameterValue")
                && error.message.contains("Invalid IAM Instance Profile name"))
    }
}

/// The launch template version to create, with the boot template rendered with real endpoints.
async fn launch_data(
    context: &StepContext<'_>,
    id: &ResourceId,
    template: &Spec,
) -> Result<calls::LaunchData, AwsError> {
    let what = format!("create {id}");
    let endpoints = template.endpoints(context.known);
    endpoints
        .cover(&template.boot.context)
        .map_err(|message| AwsError::other(what.clone(), message))?;
    let user_data = template.boot.render(&endpoints).map_err(|error| {
        AwsError::other(
            what.clone(),
            format!(
                "the boot template {}{} failed to render: {}",
                error.path,
                error.line.map(|l| format!(":{l}")).unwrap_or_default(),
                error.message
            ),
        )
    })?;
    let image = template.image_id(context.known).ok_or_else(|| {
        let name = match &template.image {
            NodeImage::Fixed(id) | NodeImage::Baked(id) => id,
        };
        AwsError::other(what.clone(), format!("image {name} does not exist"))
    })?;
    let root_device = ec2::image_root_device(context.aws(), &image)
        .await?
        .ok_or_else(|| {
            let mut error = AwsError::other(what.clone(), format!("image {image} does not exist"));
            // An image this run just baked may not be visible yet (EC2 is eventually
            // consistent); a given image was checked by plan, and its absence is final.
            if matches!(template.image, NodeImage::Baked(_)) {
                error.code = Some("InvalidAMIID.NotFound".into());
            }
            error
        })?;
    Ok(calls::LaunchData {
        image,
        root_device,
        instance_type: template.instance_type.clone(),
        volume_size: template.volume_size,
        volume_type: template.volume_type.clone(),
        security_group_id: context
            .known
            .require(&security_group::id(&template.security_group), id)?,
        instance_profile: template.instance_profile.clone(),
        user_data,
        // Instances are named after their launch template: `<stack>-node`, `<stack>-<group>`.
        instance_tags: ownership_tags(context.stack(), "node", &id.name),
    })
}
