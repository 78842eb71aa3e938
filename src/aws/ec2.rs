//! EC2: the network the stack lives in, the images it starts from, and the tag helpers the EC2
//! resource kinds share.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, Tag};
use serde::{Deserialize, Serialize};

use super::{Aws, AwsError, fail, tag_map};
use crate::profile::schema::BaseImage;
use crate::profile::validate::Problem;

/// A subnet the stack spans, and its Availability Zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub zone: String,
}

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

pub fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
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

/// The Availability Zones of the region that offer each of `types` (a type offered nowhere maps
/// to an empty set): DescribeInstanceTypeOfferings, in pages.
pub async fn offerings(
    aws: &Aws,
    types: &BTreeSet<String>,
) -> Result<BTreeMap<String, BTreeSet<String>>, AwsError> {
    let mut found: BTreeMap<String, BTreeSet<String>> =
        types.iter().map(|t| (t.clone(), BTreeSet::new())).collect();
    if types.is_empty() {
        return Ok(found);
    }
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .ec2
            .describe_instance_type_offerings()
            .location_type(aws_sdk_ec2::types::LocationType::AvailabilityZone)
            .filters(
                Filter::builder()
                    .name("instance-type")
                    .set_values(Some(types.iter().cloned().collect()))
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(fail(
                "find the Availability Zones that offer the instance types",
            ))?;
        for offering in page.instance_type_offerings() {
            if let (Some(kind), Some(zone)) = (offering.instance_type(), offering.location()) {
                found
                    .entry(kind.as_str().to_string())
                    .or_default()
                    .insert(zone.to_string());
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// The architectures each of `types` runs (DescribeInstanceTypes: ProcessorInfo). A type AWS
/// does not know (or does not offer in the region) is left out: the offerings check reports it at
/// its key.
pub async fn type_architectures(
    aws: &Aws,
    types: &BTreeSet<String>,
) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
    let wanted: Vec<aws_sdk_ec2::types::InstanceType> = types
        .iter()
        .map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str()))
        .collect();
    let mut found = BTreeMap::new();
    // AWS takes up to 100 types a request. One it does not know fails the whole request
    // (InvalidInstanceType): that request's types are then asked for one by one, so that the
    // others keep their architectures.
    for chunk in wanted.chunks(100) {
        match architectures_of(aws, chunk).await {
            Ok(some) => found.extend(some),
            Err(error) if error.is("InvalidInstanceType") => {
                for one in chunk {
                    match architectures_of(aws, std::slice::from_ref(one)).await {
                        Ok(some) => found.extend(some),
                        Err(error) if error.is("InvalidInstanceType") => {}
                        Err(error) => return Err(error),
                    }
                }
            }
            Err(error) => return Err(error),
        }
    }
    Ok(found)
}

/// One DescribeInstanceTypes request: type -> the architectures it runs.
async fn architectures_of(
    aws: &Aws,
    types: &[aws_sdk_ec2::types::InstanceType],
) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
    let page = aws
        .ec2
        .describe_instance_types()
        .set_instance_types(Some(types.to_vec()))
        .send()
        .await
        .map_err(fail("read the instance types' architectures"))?;
    Ok(page
        .instance_types()
        .iter()
        .filter_map(|info| {
            let architectures = info
                .processor_info()
                .map(|p| {
                    p.supported_architectures()
                        .iter()
                        .map(|a| a.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default();
            Some((info.instance_type()?.as_str().to_string(), architectures))
        })
        .collect())
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

/// An AMI as deployer needs it: which, and the architecture it runs on (x86_64, arm64).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFacts {
    pub id: String,
    pub architecture: Option<String>,
}

impl ImageFacts {
    fn of(image: &aws_sdk_ec2::types::Image) -> Option<Self> {
        Some(ImageFacts {
            id: image.image_id()?.to_string(),
            architecture: image.architecture().map(|a| a.as_str().to_string()),
        })
    }
}

/// Whether an AMI exists (and is visible to this account), and its root device name.
pub async fn image_root_device(aws: &Aws, image: &str) -> Result<Option<String>, AwsError> {
    Ok(describe_image(aws, image)
        .await?
        .map(|i| i.root_device_name().unwrap_or("/dev/xvda").to_string()))
}

/// The AMI, if it exists and is visible to this account.
async fn describe_image(
    aws: &Aws,
    image: &str,
) -> Result<Option<aws_sdk_ec2::types::Image>, AwsError> {
    match aws.ec2.describe_images().image_ids(image).send().await {
        Ok(found) => Ok(found.images().first().cloned()),
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

/// A filter on one tag's value.
pub fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// The filter for what is tagged for `stack`.
pub fn stack_filter(stack: &str) -> Filter {
    tag_filter(crate::ids::tags::TAG_STACK, stack)
}

/// Set one tag on an EC2 resource.
pub async fn set_tag(
    aws: &Aws,
    id: &crate::ids::ResourceId,
    physical_id: &str,
    key: &str,
    value: &str,
) -> Result<(), AwsError> {
    aws.ec2
        .create_tags()
        .resources(physical_id)
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("tag {id}")))
}

/// An image the profile names, checked to exist.
pub async fn image_facts(aws: &Aws, image: &str) -> Result<Option<ImageFacts>, AwsError> {
    Ok(describe_image(aws, image)
        .await?
        .as_ref()
        .and_then(ImageFacts::of))
}

/// The base image: checked to exist, or the newest available match of a lookup. None when
/// there is no such image.
pub async fn resolve_base_image(
    aws: &Aws,
    base: &BaseImage,
) -> Result<Option<ImageFacts>, AwsError> {
    match base {
        BaseImage::Id(id) => image_facts(aws, id).await,
        BaseImage::Parameter(parameter) => {
            let found = aws.ssm.get_parameter().name(&parameter.ssm).send().await;
            match found {
                Ok(found) => match found.parameter().and_then(|p| p.value()) {
                    Some(id) => image_facts(aws, id).await,
                    None => Ok(None),
                },
                Err(error) => {
                    let error =
                        fail(format!("read the base image parameter {}", parameter.ssm))(error);
                    if error.is("ParameterNotFound") {
                        Ok(None)
                    } else {
                        Err(error)
                    }
                }
            }
        }
        BaseImage::Lookup(lookup) => {
            let found = aws
                .ec2
                .describe_images()
                .owners(&lookup.owner)
                .filters(Filter::builder().name("name").values(&lookup.name).build())
                .filters(Filter::builder().name("state").values("available").build())
                .send()
                .await
                .map_err(fail(format!(
                    "look up the base image {} of {}",
                    lookup.name, lookup.owner
                )))?;
            Ok(found
                .images()
                .iter()
                .max_by(|a, b| a.creation_date().cmp(&b.creation_date()))
                .and_then(ImageFacts::of))
        }
    }
}
