//! Calls for EC2 launch templates: the template and its newest version, new versions made the
//! default, and deletion.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType,
    TagSpecification, VolumeType,
};
use serde_json::{Map, json};
use sha2::{Digest, Sha256};

use super::*;
use crate::aws::ec2::{ec2_tags, tags_of};
use crate::aws::{Aws, AwsError, fail};
use crate::resources::attributes::sorted;
use crate::resources::observed::{ObservedResource, Outputs, Status};

/// What a launch template version should hold.
#[derive(Debug, Clone)]
pub(super) struct LaunchData {
    pub image: String,
    pub root_device: String,
    pub instance_type: String,
    pub volume_size: i32,
    pub volume_type: String,
    pub security_group_id: String,
    pub instance_profile: String,
    pub user_data: String,
    /// Tags for the instances and volumes the group launches.
    pub instance_tags: BTreeMap<String, String>,
}

impl LaunchData {
    fn request(&self) -> RequestLaunchTemplateData {
        let tags = ec2_tags(&self.instance_tags);
        RequestLaunchTemplateData::builder()
            .image_id(&self.image)
            .instance_type(InstanceType::from(self.instance_type.as_str()))
            .user_data(aws_smithy_types::base64::encode(&self.user_data))
            .metadata_options(
                LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_tokens(LaunchTemplateHttpTokensState::Required)
                    .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                    .http_put_response_hop_limit(2)
                    .build(),
            )
            .network_interfaces(
                LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                    .device_index(0)
                    .associate_public_ip_address(false)
                    .delete_on_termination(true)
                    .groups(&self.security_group_id)
                    .build(),
            )
            .block_device_mappings(
                LaunchTemplateBlockDeviceMappingRequest::builder()
                    .device_name(&self.root_device)
                    .ebs(
                        LaunchTemplateEbsBlockDeviceRequest::builder()
                            .volume_size(self.volume_size)
                            .volume_type(VolumeType::from(self.volume_type.as_str()))
                            .encrypted(true)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            .iam_instance_profile(
                LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .name(&self.instance_profile)
                    .build(),
            )
            .tag_specifications(
                LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(tags.clone()))
                    .build(),
            )
            .tag_specifications(
                LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(ResourceType::Volume)
                    .set_tags(Some(tags))
                    .build(),
            )
            .build()
    }

    /// Whether the newest version of `live` holds this data.
    fn matches(&self, live: &ObservedResource) -> bool {
        let a = &live.attributes;
        a.get(IMAGE) == Some(&json!(self.image))
            && a.get(INSTANCE_TYPE) == Some(&json!(self.instance_type))
            && a.get(USER_DATA) == Some(&json!(self.user_data))
            && a.get(VOLUME_SIZE) == Some(&json!(self.volume_size))
            && a.get(VOLUME_TYPE) == Some(&json!(self.volume_type))
            && a.get(SECURITY_GROUPS) == Some(&json!([self.security_group_id]))
            && a.get(INSTANCE_PROFILE) == Some(&json!(self.instance_profile))
    }

    /// The client token of one create: the content's digest and a part of its own. The SDK's
    /// retries of the call repeat it, so a create whose answer was lost is not made twice. The
    /// same content written again later (after a destroy, or going back to an earlier version)
    /// is a new create: AWS answers a repeated token with what the first call made, even once
    /// that is gone. (A run killed after a create finds the template by name and adopts it.)
    fn client_token(&self, name: &str) -> String {
        use rand::distr::{Alphanumeric, SampleString};
        let digest = Sha256::digest(format!("{name}\n{self:?}").as_bytes());
        let attempt = Alphanumeric.sample_string(&mut rand::rng(), 16);
        format!("{}-{attempt}", &hex::encode(digest)[..40])
    }
}

/// The launch templates among `names` that exist, each with the attributes of its newest
/// version: one request for the templates (a name filter does not fail on absent names), and
/// one for each template's newest version (AWS reads versions one template at a time).
pub(super) async fn describe(
    aws: &Aws,
    names: &[String],
) -> Result<Vec<ObservedResource>, AwsError> {
    let found = aws
        .ec2
        .describe_launch_templates()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("launch-template-name")
                .set_values(Some(names.to_vec()))
                .build(),
        )
        .send()
        .await
        .map_err(fail("describe the launch templates"))?;
    let each = found.launch_templates().iter().map(|template| async move {
        let id = template.launch_template_id().unwrap_or_default();
        let name = template.launch_template_name().unwrap_or_default();
        let versions = aws
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions("$Latest")
            .send()
            .await
            .map_err(fail(format!("describe launch template {name}")))?;
        Ok::<_, AwsError>(resource(template, &versions))
    });
    futures::future::try_join_all(each).await
}

fn resource(
    template: &aws_sdk_ec2::types::LaunchTemplate,
    versions: &aws_sdk_ec2::operation::describe_launch_template_versions::DescribeLaunchTemplateVersionsOutput,
) -> ObservedResource {
    let id = template
        .launch_template_id()
        .unwrap_or_default()
        .to_string();
    let mut attributes = Map::new();
    let mut version = template.latest_version_number();
    if let Some(latest) = versions.launch_template_versions().first() {
        version = latest.version_number().or(version);
        if let Some(data) = latest.launch_template_data() {
            attributes.insert(IMAGE.into(), json!(data.image_id().unwrap_or_default()));
            attributes.insert(
                INSTANCE_TYPE.into(),
                json!(data.instance_type().map(|t| t.as_str()).unwrap_or_default()),
            );
            if let Some(ebs) = data.block_device_mappings().first().and_then(|m| m.ebs()) {
                attributes.insert(VOLUME_SIZE.into(), json!(ebs.volume_size()));
                attributes.insert(
                    "volume_type".into(),
                    json!(ebs.volume_type().map(|t| t.as_str())),
                );
                attributes.insert(
                    "volume_encrypted".into(),
                    json!(ebs.encrypted().unwrap_or(false)),
                );
            }
            attributes.insert(
                HTTP_TOKENS.into(),
                json!(
                    data.metadata_options()
                        .and_then(|m| m.http_tokens())
                        .map(|t| t.as_str())
                        .unwrap_or("optional")
                ),
            );
            let interface = data.network_interfaces().first();
            attributes.insert(
                PUBLIC_IP.into(),
                json!(
                    interface
                        .and_then(|i| i.associate_public_ip_address())
                        .unwrap_or(true)
                ),
            );
            let mut groups: Vec<String> =
                interface.map(|i| i.groups().to_vec()).unwrap_or_default();
            groups.extend(data.security_group_ids().iter().cloned());
            attributes.insert(SECURITY_GROUPS.into(), sorted(groups));
            let profile = data.iam_instance_profile().and_then(|p| {
                p.name().map(str::to_string).or_else(|| {
                    p.arn()
                        .and_then(|a| a.rsplit('/').next())
                        .map(str::to_string)
                })
            });
            attributes.insert(INSTANCE_PROFILE.into(), json!(profile));
            let user_data = data
                .user_data()
                .and_then(|b64| aws_smithy_types::base64::decode(b64).ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            attributes.insert(USER_DATA.into(), json!(user_data));
        }
    }
    ObservedResource {
        id: ResourceId::new(KIND, template.launch_template_name().unwrap_or_default()),
        physical_id: id,
        tags: tags_of(template.tags()),
        attributes,
        status: Status::Ready,
        outputs: Outputs {
            version,
            ..Outputs::default()
        },
    }
}

/// Create the launch template (version 1), or adopt one a previous run created. Returns its id
/// and version.
pub(super) async fn create(
    aws: &Aws,
    name: &str,
    data: &LaunchData,
    tags: &BTreeMap<String, String>,
) -> Result<(String, i64), AwsError> {
    let created = aws
        .ec2
        .create_launch_template()
        .launch_template_name(name)
        .client_token(data.client_token(name))
        .launch_template_data(data.request())
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::LaunchTemplate)
                .set_tags(Some(ec2_tags(tags)))
                .build(),
        )
        .send()
        .await;
    match created {
        Ok(out) => {
            let template = out.launch_template();
            Ok((
                template
                    .and_then(|t| t.launch_template_id())
                    .unwrap_or_default()
                    .to_string(),
                template
                    .and_then(|t| t.latest_version_number())
                    .unwrap_or(1),
            ))
        }
        Err(error) => {
            let error = fail(format!("create launch template {name}"))(error);
            if !error.is("InvalidLaunchTemplateName.AlreadyExistsException") {
                return Err(error);
            }
            match describe(aws, &[name.to_string()]).await?.into_iter().next() {
                Some(live) if crate::aws::same_owner(&live, tags) => {
                    // A retried create whose first attempt went through: its version holds
                    // this data already.
                    if let Some(version) = live.outputs.version.filter(|_| data.matches(&live)) {
                        return Ok((live.physical_id, version));
                    }
                    let version = create_version(aws, &live.physical_id, name, data).await?;
                    Ok((live.physical_id, version))
                }
                _ => Err(error),
            }
        }
    }
}

/// Add a version with `data` and make it the default. Returns the version number.
pub(super) async fn create_version(
    aws: &Aws,
    template_id: &str,
    name: &str,
    data: &LaunchData,
) -> Result<i64, AwsError> {
    let what = format!("create a new version of launch template {name}");
    let created = aws
        .ec2
        .create_launch_template_version()
        .launch_template_id(template_id)
        .client_token(data.client_token(name))
        .launch_template_data(data.request())
        .send()
        .await
        .map_err(fail(what.clone()))?;
    let version = created
        .launch_template_version()
        .and_then(|v| v.version_number())
        .ok_or_else(|| AwsError::other(what.clone(), "AWS returned no version number"))?;
    aws.ec2
        .modify_launch_template()
        .launch_template_id(template_id)
        .default_version(version.to_string())
        .send()
        .await
        .map_err(fail(what))?;
    Ok(version)
}

pub(super) async fn delete(aws: &Aws, template_id: &str) -> Result<(), AwsError> {
    match aws
        .ec2
        .delete_launch_template()
        .launch_template_id(template_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("delete launch template {template_id}"))(error);
            if error.is("InvalidLaunchTemplateId.NotFound")
                || error.is("InvalidLaunchTemplateName.NotFoundException")
            {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}
