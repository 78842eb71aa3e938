//! EC2: the network the stack lives in, images, and the scan for anything tagged for a stack.
//! Security groups and launch templates have modules of their own.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, Tag};

use super::{Aws, AwsError, fail, tag_map};
use crate::profile::validate::Problem;
use crate::stack::Subnet;

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

pub(super) fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(super) fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
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

/// Everything EC2 holds that is tagged for `stack`: (what, id) pairs, for destroy's final scan.
pub async fn tagged(aws: &Aws, stack: &str) -> Result<Vec<(String, String)>, AwsError> {
    let filter = || {
        Filter::builder()
            .name(format!("tag:{}", crate::stack::naming::TAG_STACK))
            .values(stack)
            .build()
    };
    let (groups, templates, instances, volumes, images, snapshots) = tokio::join!(
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
        aws.ec2
            .describe_images()
            .owners("self")
            .filters(filter())
            .send(),
        aws.ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(filter())
            .send(),
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
    for image in images.map_err(fail("scan images"))?.images() {
        found.push((
            format!("image {}", image.name().unwrap_or_default()),
            image.image_id().unwrap_or_default().to_string(),
        ));
    }
    for snapshot in snapshots.map_err(fail("scan snapshots"))?.snapshots() {
        found.push((
            "snapshot".into(),
            snapshot.snapshot_id().unwrap_or_default().to_string(),
        ));
    }
    Ok(found)
}
