//! EC2: the network the stack lives in, its security groups and the nodes' launch template.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{
    Filter, InstanceType, IpPermission, IpRange, Ipv6Range,
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification, UserIdGroupPair, VolumeType,
};
use serde_json::{Map, json};
use sha2::{Digest, Sha256};

use super::{Aws, AwsError, fail, tag_map};
use crate::plan::observed::{ObservedResource, Outputs, Status};
use crate::profile::validate::Problem;
use crate::stack::Subnet;
use crate::stack::attributes::sorted;
use crate::stack::spec::{IngressRule, Kind, ResourceId, Source};

/// Why the network named by a profile cannot be used.
#[derive(Debug)]
pub enum NetworkError {
    Aws(AwsError),
    Profile(Problem),
}

impl From<AwsError> for NetworkError {
    fn from(error: AwsError) -> Self {
        NetworkError::Aws(error)
    }
}

fn problem(key: &str, message: String, hint: &str) -> NetworkError {
    NetworkError::Profile(Problem {
        key: key.into(),
        message,
        hint: Some(hint.into()),
    })
}

fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tag_map(tags.iter().map(|t| (t.key(), t.value())))
}

/// Resolve `network.vpc` and `network.subnets` to a VPC id and one subnet per zone.
pub async fn resolve_network(
    aws: &Aws,
    vpc: &str,
    subnets: Option<&[String]>,
) -> Result<(String, Vec<Subnet>), NetworkError> {
    let vpc_id = resolve_vpc(aws, vpc).await?;

    let mut request = aws.ec2.describe_subnets();
    match subnets {
        Some(ids) => request = request.set_subnet_ids(Some(ids.to_vec())),
        None => request = request.filters(Filter::builder().name("vpc-id").values(&vpc_id).build()),
    }
    let found = match request.send().await {
        Ok(found) => found,
        Err(error) => {
            let error = fail("describe the subnets")(error);
            if error.is("InvalidSubnetID.NotFound") {
                return Err(problem(
                    "network.subnets",
                    format!(
                        "a subnet does not exist in {}: {}",
                        aws.region, error.message
                    ),
                    "list subnets of the VPC, or leave `subnets` out to use the VPC's own",
                ));
            }
            return Err(error.into());
        }
    };
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    let mut live: Vec<(String, String, String, bool)> = found
        .subnets()
        .iter()
        .map(|s| {
            (
                s.subnet_id().unwrap_or_default().to_string(),
                s.availability_zone().unwrap_or_default().to_string(),
                s.vpc_id().unwrap_or_default().to_string(),
                s.default_for_az().unwrap_or(false),
            )
        })
        .collect();
    match subnets {
        Some(ids) => {
            for (index, id) in ids.iter().enumerate() {
                let key = format!("network.subnets[{index}]");
                let Some((_, zone, subnet_vpc, _)) = live.iter().find(|s| &s.0 == id) else {
                    return Err(problem(
                        &key,
                        format!("subnet {id} does not exist in {}", aws.region),
                        "list subnets of the stack's VPC",
                    ));
                };
                if subnet_vpc != &vpc_id {
                    return Err(problem(
                        &key,
                        format!("subnet {id} is in {subnet_vpc}, not in {vpc_id}"),
                        "every subnet must be in the stack's VPC",
                    ));
                }
                if let Some(other) = chosen.get(zone) {
                    return Err(problem(
                        &key,
                        format!("subnets {other} and {id} are both in {zone}"),
                        "a Classic ELB takes one subnet per Availability Zone: give one per zone",
                    ));
                }
                chosen.insert(zone.clone(), id.clone());
            }
        }
        None => {
            // Prefer each zone's default subnet, then the lowest id.
            live.sort_by(|a, b| (b.3, &a.0).cmp(&(a.3, &b.0)));
            for (id, zone, _, _) in &live {
                chosen.entry(zone.clone()).or_insert_with(|| id.clone());
            }
        }
    }
    if chosen.len() < 2 {
        return Err(problem(
            "network.subnets",
            format!(
                "the stack's subnets cover {} Availability Zone(s); at least two are needed",
                chosen.len()
            ),
            "give subnets in at least two Availability Zones",
        ));
    }
    let subnets = chosen
        .into_iter()
        .map(|(zone, id)| Subnet { id, zone })
        .collect();
    Ok((vpc_id, subnets))
}

/// Resolve `network.vpc` ("default" or an id) to a VPC id that exists.
pub async fn resolve_vpc(aws: &Aws, vpc: &str) -> Result<String, NetworkError> {
    let vpc_id = if vpc == "default" {
        let found = aws
            .ec2
            .describe_vpcs()
            .filters(Filter::builder().name("isDefault").values("true").build())
            .send()
            .await
            .map_err(fail("find the default VPC"))?;
        match found.vpcs().first().and_then(|v| v.vpc_id()) {
            Some(id) => id.to_string(),
            None => {
                return Err(problem(
                    "network.vpc",
                    format!("region {} has no default VPC", aws.region),
                    "give the VPC to use: vpc = \"vpc-...\"",
                ));
            }
        }
    } else {
        match aws.ec2.describe_vpcs().vpc_ids(vpc).send().await {
            Ok(found) if !found.vpcs().is_empty() => vpc.to_string(),
            Ok(_) => return Err(vpc_missing(vpc, &aws.region)),
            Err(error) => {
                let error = fail(format!("describe VPC {vpc}"))(error);
                if error.is("InvalidVpcID.NotFound") {
                    return Err(vpc_missing(vpc, &aws.region));
                }
                return Err(error.into());
            }
        }
    };
    Ok(vpc_id)
}

fn vpc_missing(vpc: &str, region: &str) -> NetworkError {
    problem(
        "network.vpc",
        format!("VPC {vpc} does not exist in {region}"),
        "give an existing VPC id, or \"default\"",
    )
}

/// Whether an AMI exists (and is visible to this account), and its root device name.
pub async fn image_root_device(aws: &Aws, image: &str) -> Result<Option<String>, AwsError> {
    match aws.ec2.describe_images().image_ids(image).send().await {
        Ok(found) => Ok(found
            .images()
            .first()
            .map(|i| i.root_device_name().unwrap_or("/dev/xvda").to_string())),
        Err(error) => {
            let error = fail(format!("describe image {image}"))(error);
            if error.is("InvalidAMIID.NotFound") || error.is("InvalidAMIID.Malformed") {
                Ok(None)
            } else {
                Err(error)
            }
        }
    }
}

/// One ingress permission per source, keyed by its canonical text.
fn permission_entries(permissions: &[IpPermission]) -> Vec<(String, IpPermission)> {
    let mut entries = Vec::new();
    for p in permissions {
        let protocol = p.ip_protocol().unwrap_or("-1");
        let ports = match (protocol, p.from_port(), p.to_port()) {
            ("-1", _, _) => "all".to_string(),
            (_, Some(from), Some(to)) if from == to => from.to_string(),
            (_, Some(from), Some(to)) => format!("{from}-{to}"),
            _ => "all".to_string(),
        };
        let label = match protocol {
            "tcp" | "6" => format!("tcp {ports}"),
            "-1" => "all traffic".to_string(),
            other => format!("{other} {ports}"),
        };
        let base = || {
            IpPermission::builder()
                .ip_protocol(protocol)
                .set_from_port(p.from_port())
                .set_to_port(p.to_port())
        };
        for range in p.ip_ranges() {
            let cidr = range.cidr_ip().unwrap_or_default();
            entries.push((
                format!("{label} from {cidr}"),
                base()
                    .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                    .build(),
            ));
        }
        for range in p.ipv6_ranges() {
            let cidr = range.cidr_ipv6().unwrap_or_default();
            entries.push((
                format!("{label} from {cidr}"),
                base()
                    .ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build())
                    .build(),
            ));
        }
        for pair in p.user_id_group_pairs() {
            let group = pair.group_id().unwrap_or_default();
            entries.push((
                format!("{label} from group {group}"),
                base()
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
                    .build(),
            ));
        }
    }
    entries
}

/// The stack's security groups in `vpc_id`, by name.
pub async fn observe_security_groups(
    aws: &Aws,
    vpc_id: &str,
    names: &[String],
) -> Result<Vec<ObservedResource>, AwsError> {
    let found = aws
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .filters(
            Filter::builder()
                .name("group-name")
                .set_values(Some(names.to_vec()))
                .build(),
        )
        .send()
        .await
        .map_err(fail("describe the security groups"))?;
    Ok(found
        .security_groups()
        .iter()
        .map(|group| {
            let ingress = permission_entries(group.ip_permissions())
                .into_iter()
                .map(|(text, _)| text);
            let mut attributes = Map::new();
            attributes.insert("vpc_id".into(), json!(group.vpc_id().unwrap_or_default()));
            attributes.insert("ingress".into(), sorted(ingress));
            ObservedResource {
                id: ResourceId::new(Kind::SecurityGroup, group.group_name().unwrap_or_default()),
                physical_id: group.group_id().unwrap_or_default().to_string(),
                tags: tags_of(group.tags()),
                attributes,
                status: Status::Ready,
                outputs: Outputs::default(),
            }
        })
        .collect())
}

/// Create a security group with its tags, or adopt the one a previous run created.
pub async fn create_security_group(
    aws: &Aws,
    name: &str,
    vpc_id: &str,
    description: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let created = aws
        .ec2
        .create_security_group()
        .group_name(name)
        .description(description)
        .vpc_id(vpc_id)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .set_tags(Some(ec2_tags(tags)))
                .build(),
        )
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.group_id().unwrap_or_default().to_string()),
        Err(error) => {
            let error = fail(format!("create security group {name}"))(error);
            if !error.is("InvalidGroup.Duplicate") {
                return Err(error);
            }
            let found = observe_security_groups(aws, vpc_id, &[name.to_string()]).await?;
            match found.into_iter().next() {
                Some(group) if super::same_owner(&group, tags) => Ok(group.physical_id),
                _ => Err(error),
            }
        }
    }
}

/// Make the group's ingress exactly `rules` (sources resolved with `group_ids`, name -> id).
pub async fn sync_ingress(
    aws: &Aws,
    group_id: &str,
    rules: &[IngressRule],
    group_ids: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let what = format!("update the ingress rules of security group {group_id}");
    let found = aws
        .ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .map_err(fail(what.clone()))?;
    let current = found
        .security_groups()
        .first()
        .map(|g| permission_entries(g.ip_permissions()))
        .unwrap_or_default();
    let mut wanted: BTreeMap<String, IpPermission> = BTreeMap::new();
    for rule in rules {
        let source = match &rule.source {
            Source::Cidr(cidr) => cidr.clone(),
            Source::Group(name) => group_ids.get(name).cloned().ok_or_else(|| {
                AwsError::other(
                    what.clone(),
                    format!("security group {name} is not known yet"),
                )
            })?,
        };
        let resolved = IngressRule {
            source: match &rule.source {
                Source::Cidr(_) => Source::Cidr(source.clone()),
                Source::Group(_) => Source::Group(source.clone()),
            },
            ..rule.clone()
        };
        let builder = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(rule.from_port)
            .to_port(rule.to_port);
        let permission = match &rule.source {
            Source::Cidr(cidr) if cidr.contains(':') => builder
                .ipv6_ranges(
                    Ipv6Range::builder()
                        .cidr_ipv6(cidr)
                        .description(&rule.description)
                        .build(),
                )
                .build(),
            Source::Cidr(cidr) => builder
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip(cidr)
                        .description(&rule.description)
                        .build(),
                )
                .build(),
            Source::Group(_) => builder
                .user_id_group_pairs(
                    UserIdGroupPair::builder()
                        .group_id(&source)
                        .description(&rule.description)
                        .build(),
                )
                .build(),
        };
        wanted.insert(resolved.canonical(), permission);
    }
    let have: BTreeSet<&String> = current.iter().map(|(text, _)| text).collect();
    let revoke: Vec<IpPermission> = current
        .iter()
        .filter(|(text, _)| !wanted.contains_key(text))
        .map(|(_, p)| p.clone())
        .collect();
    let authorize: Vec<IpPermission> = wanted
        .iter()
        .filter(|(text, _)| !have.contains(text))
        .map(|(_, p)| p.clone())
        .collect();
    if !revoke.is_empty() {
        aws.ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(revoke))
            .send()
            .await
            .map_err(fail(what.clone()))?;
    }
    if !authorize.is_empty() {
        match aws
            .ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(authorize))
            .send()
            .await
        {
            Ok(_) => {}
            Err(error) => {
                let error = fail(what)(error);
                // A rule a previous, interrupted run already added.
                if !error.is("InvalidPermission.Duplicate") {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

/// Delete a security group. `Ok(false)` while something still uses it (AWS's
/// DependencyViolation: network interfaces draining, a rule of another group).
pub async fn delete_security_group(aws: &Aws, group_id: &str) -> Result<bool, AwsError> {
    match aws
        .ec2
        .delete_security_group()
        .group_id(group_id)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(error) => {
            let error = fail(format!("delete security group {group_id}"))(error);
            if error.is("InvalidGroup.NotFound") {
                Ok(true)
            } else if error.is("DependencyViolation") {
                Ok(false)
            } else {
                Err(error)
            }
        }
    }
}

/// What a launch template version should hold.
#[derive(Debug, Clone)]
pub struct LaunchData {
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

    /// A client token from the content: a retried create of the same version is idempotent.
    fn client_token(&self, name: &str) -> String {
        let digest = Sha256::digest(format!("{name}\n{self:?}").as_bytes());
        hex::encode(digest)[..64].to_string()
    }
}

/// The launch template and the attributes of its newest version.
pub async fn observe_launch_template(
    aws: &Aws,
    name: &str,
) -> Result<Option<ObservedResource>, AwsError> {
    let found = match aws
        .ec2
        .describe_launch_templates()
        .launch_template_names(name)
        .send()
        .await
    {
        Ok(found) => found,
        Err(error) => {
            let error = fail(format!("describe launch template {name}"))(error);
            if error.is("InvalidLaunchTemplateName.NotFoundException")
                || error.is("InvalidLaunchTemplateId.NotFound")
            {
                return Ok(None);
            }
            return Err(error);
        }
    };
    let Some(template) = found.launch_templates().first() else {
        return Ok(None);
    };
    let id = template
        .launch_template_id()
        .unwrap_or_default()
        .to_string();
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&id)
        .versions("$Latest")
        .send()
        .await
        .map_err(fail(format!("describe launch template {name}")))?;
    let mut attributes = Map::new();
    let mut version = template.latest_version_number();
    if let Some(latest) = versions.launch_template_versions().first() {
        version = latest.version_number().or(version);
        if let Some(data) = latest.launch_template_data() {
            attributes.insert("image".into(), json!(data.image_id().unwrap_or_default()));
            attributes.insert(
                "instance_type".into(),
                json!(data.instance_type().map(|t| t.as_str()).unwrap_or_default()),
            );
            if let Some(ebs) = data.block_device_mappings().first().and_then(|m| m.ebs()) {
                attributes.insert("volume_size".into(), json!(ebs.volume_size()));
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
                "http_tokens".into(),
                json!(
                    data.metadata_options()
                        .and_then(|m| m.http_tokens())
                        .map(|t| t.as_str())
                        .unwrap_or("optional")
                ),
            );
            let interface = data.network_interfaces().first();
            attributes.insert(
                "public_ip".into(),
                json!(
                    interface
                        .and_then(|i| i.associate_public_ip_address())
                        .unwrap_or(true)
                ),
            );
            let mut groups: Vec<String> =
                interface.map(|i| i.groups().to_vec()).unwrap_or_default();
            groups.extend(data.security_group_ids().iter().cloned());
            attributes.insert("security_groups".into(), sorted(groups));
            let profile = data.iam_instance_profile().and_then(|p| {
                p.name().map(str::to_string).or_else(|| {
                    p.arn()
                        .and_then(|a| a.rsplit('/').next())
                        .map(str::to_string)
                })
            });
            attributes.insert("instance_profile".into(), json!(profile));
            let user_data = data
                .user_data()
                .and_then(|b64| aws_smithy_types::base64::decode(b64).ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            attributes.insert("user_data".into(), json!(user_data));
        }
    }
    Ok(Some(ObservedResource {
        id: ResourceId::new(Kind::LaunchTemplate, name),
        physical_id: id,
        tags: tags_of(template.tags()),
        attributes,
        status: Status::Ready,
        outputs: Outputs {
            version,
            ..Outputs::default()
        },
    }))
}

/// Create the launch template (version 1), or adopt one a previous run created. Returns its id
/// and version.
pub async fn create_launch_template(
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
            match observe_launch_template(aws, name).await? {
                Some(live) if super::same_owner(&live, tags) => {
                    let version = create_version(aws, &live.physical_id, name, data).await?;
                    Ok((live.physical_id, version))
                }
                _ => Err(error),
            }
        }
    }
}

/// Add a version with `data` and make it the default. Returns the version number.
pub async fn create_version(
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

pub async fn delete_launch_template(aws: &Aws, template_id: &str) -> Result<(), AwsError> {
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

/// Everything EC2 holds that is tagged for `stack`: (what, id) pairs, for destroy's final scan.
pub async fn tagged(aws: &Aws, stack: &str) -> Result<Vec<(String, String)>, AwsError> {
    let filter = || {
        Filter::builder()
            .name(format!("tag:{}", crate::stack::naming::TAG_STACK))
            .values(stack)
            .build()
    };
    let (groups, templates, instances, volumes) = tokio::join!(
        aws.ec2.describe_security_groups().filters(filter()).send(),
        aws.ec2.describe_launch_templates().filters(filter()).send(),
        aws.ec2
            .describe_instances()
            .filters(filter())
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopping")
                    .values("stopped")
                    .values("shutting-down")
                    .build(),
            )
            .send(),
        aws.ec2.describe_volumes().filters(filter()).send(),
    );
    let mut found = Vec::new();
    for group in groups
        .map_err(fail("scan security groups"))?
        .security_groups()
    {
        found.push((
            format!("security group {}", group.group_name().unwrap_or_default()),
            group.group_id().unwrap_or_default().to_string(),
        ));
    }
    for template in templates
        .map_err(fail("scan launch templates"))?
        .launch_templates()
    {
        found.push((
            format!(
                "launch template {}",
                template.launch_template_name().unwrap_or_default()
            ),
            template
                .launch_template_id()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    for reservation in instances.map_err(fail("scan instances"))?.reservations() {
        for instance in reservation.instances() {
            found.push((
                "instance".into(),
                instance.instance_id().unwrap_or_default().to_string(),
            ));
        }
    }
    for volume in volumes.map_err(fail("scan volumes"))?.volumes() {
        found.push((
            "volume".into(),
            volume.volume_id().unwrap_or_default().to_string(),
        ));
    }
    Ok(found)
}
