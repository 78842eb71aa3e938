//! EC2: the network the stack lives in, the images it starts from, and the tag helpers the EC2
//! resource kinds share.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, Tag};
use serde::{Deserialize, Serialize};

use super::{Aws, AwsError, every_item, fail, tag_map};
use crate::profile::schema::BaseImage;
use crate::profile::validate::Problem;

/// A subnet the stack spans, its Availability Zone, and where its traffic for the internet goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub zone: String,
    /// None when not read (offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Egress>,
}

/// Where a subnet's route table sends 0.0.0.0/0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Egress {
    /// A NAT gateway: out of the VPC without a public IP.
    Nat(String),
    /// An internet gateway: out only with a public IP.
    InternetGateway(String),
    /// Something else (a transit gateway, a peering, a NAT instance's interface): taken on trust.
    Elsewhere(String),
    /// No route: only the VPC, and what its endpoints reach.
    NoRoute,
}

impl Egress {
    /// Whether an instance without a public IP gets out of the VPC.
    pub fn without_public_ip(&self) -> bool {
        matches!(self, Egress::Nat(_) | Egress::Elsewhere(_))
    }
}

/// The services a VPC's interface endpoints (with private DNS) and gateway endpoints reach
/// (`secretsmanager`, `s3`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints(pub BTreeSet<String>);

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

/// Resolve `network` (the VPC and its subnet lists) to a VPC id and the subnets of each tier (one
/// per zone), each with its egress (the VPC's route tables), and read what the VPC's endpoints
/// reach.
pub async fn resolve_network(
    aws: &Aws,
    network: &crate::profile::schema::Network,
) -> Result<Network, NetworkError> {
    let vpc_id = resolve_vpc(aws, &network.vpc).await?;
    let lists: Vec<(&str, &[String])> = [
        ("network.subnets", &network.subnets),
        (
            "network.load_balancer_subnets",
            &network.load_balancer_subnets,
        ),
        ("network.node_subnets", &network.node_subnets),
        ("network.data_subnets", &network.data_subnets),
    ]
    .into_iter()
    .filter_map(|(key, list)| Some((key, list.as_deref()?)))
    .collect();
    let (live, routes, endpoints) = tokio::join!(
        describe_subnets(aws, &vpc_id, &lists),
        default_routes(aws, &vpc_id),
        endpoints(aws, &vpc_id),
    );
    let (live, routes) = (live?, routes?);
    let choose = |key: &str| -> Result<Vec<Subnet>, NetworkError> {
        let ids = lists.iter().find(|(k, _)| *k == key).map(|(_, ids)| *ids);
        let mut subnets = choose_subnets(&aws.region, &vpc_id, &live, key, ids)?;
        for subnet in &mut subnets {
            subnet.egress = Some(routes.egress_of(&subnet.id));
        }
        Ok(subnets)
    };
    let (subnets, load_balancer_subnets, data_subnets) = if network.separates_tiers() {
        let nodes = choose("network.node_subnets")?;
        let data = match network.data_subnets {
            Some(_) => choose("network.data_subnets")?,
            None => Vec::new(),
        };
        (nodes, choose("network.load_balancer_subnets")?, data)
    } else {
        (choose("network.subnets")?, Vec::new(), Vec::new())
    };
    Ok(Network {
        vpc_id,
        subnets,
        load_balancer_subnets,
        data_subnets,
        endpoints: endpoints?,
    })
}

/// The stack's VPC, its subnets (one per zone) and what its endpoints reach.
pub struct Network {
    pub vpc_id: String,
    /// The nodes' subnets (every tier's, unless the profile separates them).
    pub subnets: Vec<Subnet>,
    /// The load balancer's own subnets; empty: the nodes'.
    pub load_balancer_subnets: Vec<Subnet>,
    /// The data tier's own subnets; empty: the nodes'.
    pub data_subnets: Vec<Subnet>,
    pub endpoints: Endpoints,
}

/// The VPC's route tables, as they answer where a subnet's 0.0.0.0/0 goes.
struct Routes {
    /// Subnet -> the egress of its explicitly associated table.
    associated: BTreeMap<String, Egress>,
    /// The main table's, for every other subnet.
    main: Egress,
}

impl Routes {
    fn egress_of(&self, subnet: &str) -> Egress {
        self.associated
            .get(subnet)
            .cloned()
            .unwrap_or_else(|| self.main.clone())
    }
}

/// Read the VPC's route tables (DescribeRouteTables, in pages).
async fn default_routes(aws: &Aws, vpc_id: &str) -> Result<Routes, AwsError> {
    let tables = every_item!(
        aws.ec2
            .describe_route_tables()
            .filters(Filter::builder().name("vpc-id").values(vpc_id).build()),
        "read the VPC's route tables"
    )?;
    let mut routes = Routes {
        associated: BTreeMap::new(),
        main: Egress::NoRoute,
    };
    for table in &tables {
        let egress = table
            .routes()
            .iter()
            // A route whose target is gone (a deleted NAT gateway) is a blackhole: no way out.
            .find(|r| {
                r.destination_cidr_block() == Some("0.0.0.0/0")
                    && r.state() != Some(&aws_sdk_ec2::types::RouteState::Blackhole)
            })
            .map(|r| {
                if let Some(nat) = r.nat_gateway_id() {
                    Egress::Nat(nat.to_string())
                } else if let Some(gateway) = r.gateway_id().filter(|g| g.starts_with("igw-")) {
                    Egress::InternetGateway(gateway.to_string())
                } else {
                    let target = r
                        .transit_gateway_id()
                        .or(r.vpc_peering_connection_id())
                        .or(r.network_interface_id())
                        .or(r.instance_id())
                        .or(r.gateway_id())
                        .unwrap_or("another target");
                    Egress::Elsewhere(target.to_string())
                }
            })
            .unwrap_or(Egress::NoRoute);
        for association in table.associations() {
            if association.main() == Some(true) {
                routes.main = egress.clone();
            } else if let Some(subnet) = association.subnet_id() {
                routes.associated.insert(subnet.to_string(), egress.clone());
            }
        }
    }
    Ok(routes)
}

/// The services the VPC's endpoints reach without leaving it: interface endpoints with private
/// DNS (the service's own name resolves to them), and gateway endpoints (S3, DynamoDB), by the
/// last part of their service name (`com.amazonaws.us-east-1.secretsmanager` -> `secretsmanager`).
async fn endpoints(aws: &Aws, vpc_id: &str) -> Result<Endpoints, AwsError> {
    let found = every_item!(
        aws.ec2
            .describe_vpc_endpoints()
            .filters(Filter::builder().name("vpc-id").values(vpc_id).build()),
        "read the VPC's endpoints"
    )?;
    Ok(Endpoints(
        found
            .iter()
            .filter(|e| {
                e.state()
                    .is_none_or(|s| s.as_str().eq_ignore_ascii_case("available"))
                    && (e.private_dns_enabled() == Some(true)
                        || e.vpc_endpoint_type()
                            .is_some_and(|t| t.as_str() == "Gateway"))
            })
            .filter_map(|e| Some(e.service_name()?.rsplit('.').next()?.to_string()))
            .collect(),
    ))
}

/// A subnet as DescribeSubnets gives it: id, zone, VPC, whether it is its zone's default.
struct LiveSubnet {
    id: String,
    zone: String,
    vpc: String,
    default_for_zone: bool,
}

/// The subnets the profile's `lists` name (each `(key, ids)`), or the VPC's when it names none:
/// one request.
async fn describe_subnets(
    aws: &Aws,
    vpc_id: &str,
    lists: &[(&str, &[String])],
) -> Result<Vec<LiveSubnet>, NetworkError> {
    let named: BTreeSet<String> = lists
        .iter()
        .flat_map(|(_, ids)| ids.iter().cloned())
        .collect();
    let mut request = aws.ec2.describe_subnets();
    if named.is_empty() {
        request = request.filters(Filter::builder().name("vpc-id").values(vpc_id).build());
    } else {
        request = request.set_subnet_ids(Some(named.into_iter().collect()));
    }
    let found = match request.send().await {
        Ok(found) => found,
        Err(error) => {
            let error = fail("describe the subnets")(error);
            if error.is("InvalidSubnetID.NotFound") {
                // AWS names the missing id: point at the list that holds it.
                let key = lists
                    .iter()
                    .find(|(_, ids)| ids.iter().any(|id| error.message.contains(id.as_str())))
                    .or(lists.first())
                    .map_or("network.subnets", |(key, _)| *key);
                return Err(problem(
                    key,
                    format!(
                        "a subnet does not exist in {}: {}",
                        aws.region, error.message
                    ),
                    "list subnets of the VPC, or leave the subnets out to use the VPC's own",
                ));
            }
            return Err(error.into());
        }
    };
    Ok(found
        .subnets()
        .iter()
        .map(|s| LiveSubnet {
            id: s.subnet_id().unwrap_or_default().to_string(),
            zone: s.availability_zone().unwrap_or_default().to_string(),
            vpc: s.vpc_id().unwrap_or_default().to_string(),
            default_for_zone: s.default_for_az().unwrap_or(false),
        })
        .collect())
}

/// One tier's subnets, one per zone, in at least two zones: those `ids` names at `key`, checked,
/// or (no ids) one per zone of the VPC's, each zone's default subnet first.
fn choose_subnets(
    region: &str,
    vpc_id: &str,
    live: &[LiveSubnet],
    key: &str,
    ids: Option<&[String]>,
) -> Result<Vec<Subnet>, NetworkError> {
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    match ids {
        Some(ids) => {
            for (index, id) in ids.iter().enumerate() {
                let at = format!("{key}[{index}]");
                let Some(subnet) = live.iter().find(|s| &s.id == id) else {
                    return Err(problem(
                        &at,
                        format!("subnet {id} does not exist in {region}"),
                        "list subnets of the stack's VPC",
                    ));
                };
                if subnet.vpc != vpc_id {
                    return Err(problem(
                        &at,
                        format!("subnet {id} is in {}, not in {vpc_id}", subnet.vpc),
                        "every subnet must be in the stack's VPC",
                    ));
                }
                if let Some(other) = chosen.get(&subnet.zone) {
                    return Err(problem(
                        &at,
                        format!("subnets {other} and {id} are both in {}", subnet.zone),
                        "give one subnet per Availability Zone (a Classic ELB takes one per zone)",
                    ));
                }
                chosen.insert(subnet.zone.clone(), id.clone());
            }
        }
        None => {
            let mut ordered: Vec<&LiveSubnet> = live.iter().filter(|s| s.vpc == vpc_id).collect();
            // Prefer each zone's default subnet, then the lowest id.
            ordered.sort_by(|a, b| (b.default_for_zone, &a.id).cmp(&(a.default_for_zone, &b.id)));
            for subnet in ordered {
                chosen
                    .entry(subnet.zone.clone())
                    .or_insert_with(|| subnet.id.clone());
            }
        }
    }
    if chosen.len() < 2 {
        return Err(problem(
            key,
            format!(
                "the subnets cover {} Availability Zone(s); at least two are needed",
                chosen.len()
            ),
            "give subnets in at least two Availability Zones",
        ));
    }
    Ok(chosen
        .into_iter()
        .map(|(zone, id)| Subnet {
            id,
            zone,
            egress: None,
        })
        .collect())
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

/// What DescribeInstanceTypes says of an instance type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeFacts {
    /// The architectures it runs (ProcessorInfo).
    pub architectures: Vec<String>,
    /// Its default vCPUs (VCpuInfo): what the On-Demand vCPU quotas count.
    pub vcpus: u32,
}

/// What AWS says of each of `types`. A type AWS does not know (or does not offer in the region)
/// is left out: the offerings check reports it at its key.
pub async fn type_facts(
    aws: &Aws,
    types: &BTreeSet<String>,
) -> Result<BTreeMap<String, TypeFacts>, AwsError> {
    let wanted: Vec<aws_sdk_ec2::types::InstanceType> = types
        .iter()
        .map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str()))
        .collect();
    let mut found = BTreeMap::new();
    // AWS takes up to 100 types a request. One it does not know fails the whole request
    // (InvalidInstanceType): that request's types are then asked for one by one, so that the
    // others keep their facts.
    for chunk in wanted.chunks(100) {
        match facts_of(aws, chunk).await {
            Ok(some) => found.extend(some),
            Err(error) if error.is("InvalidInstanceType") => {
                let each = chunk
                    .iter()
                    .map(|one| facts_of(aws, std::slice::from_ref(one)));
                for answer in futures::future::join_all(each).await {
                    match answer {
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

/// One DescribeInstanceTypes request: type -> its facts.
async fn facts_of(
    aws: &Aws,
    types: &[aws_sdk_ec2::types::InstanceType],
) -> Result<BTreeMap<String, TypeFacts>, AwsError> {
    let types = every_item!(
        aws.ec2
            .describe_instance_types()
            .set_instance_types(Some(types.to_vec())),
        "read the instance types"
    )?;
    Ok(types
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
            let vcpus = info
                .v_cpu_info()
                .and_then(|v| v.default_v_cpus())
                .unwrap_or(0)
                .max(0) as u32;
            Some((
                info.instance_type()?.as_str().to_string(),
                TypeFacts {
                    architectures,
                    vcpus,
                },
            ))
        })
        .collect())
}

/// The id of the VPC the stack's resources are in: its own (empty while deployer has not created
/// it yet), or the profile's (`"default"` or an id), which must exist.
pub async fn stack_vpc(
    aws: &Aws,
    network: &crate::profile::schema::Network,
    stack: &str,
) -> Result<String, NetworkError> {
    if !network.creates_vpc() {
        return resolve_vpc(aws, &network.vpc).await;
    }
    let name = crate::ids::names::Names::new(stack).vpc();
    Ok(crate::resources::vpc::describe(aws, stack)
        .await?
        .into_iter()
        .find(|vpc| vpc.id.name == name)
        .map(|vpc| vpc.physical_id)
        .unwrap_or_default())
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
            let found = super::unless_absent(
                aws.ssm
                    .get_parameter()
                    .name(&parameter.ssm)
                    .send()
                    .await
                    .map_err(fail(format!(
                        "read the base image parameter {}",
                        parameter.ssm
                    ))),
                "ParameterNotFound",
            )?;
            match found.as_ref().and_then(|f| f.parameter()?.value()) {
                Some(id) => image_facts(aws, id).await,
                None => Ok(None),
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

/// The tag specification of a create call: `tags` on the resource it creates.
pub fn tag_specification(
    resource_type: aws_sdk_ec2::types::ResourceType,
    tags: &BTreeMap<String, String>,
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(ec2_tags(tags)))
        .build()
}

/// One of `stack`'s EC2 resources as observation reports it, named by its `Name` tag. One
/// without, or tagged for another stack, is left out (whatever the listing's filter let through).
pub fn observed_resource(
    stack: &str,
    kind: crate::ids::Kind,
    physical_id: &str,
    tags: &[Tag],
    attributes: serde_json::Map<String, serde_json::Value>,
    status: crate::resources::observed::Status,
) -> Option<crate::resources::observed::ObservedResource> {
    let tags = tags_of(tags);
    if tags.get(crate::ids::tags::TAG_STACK).map(String::as_str) != Some(stack) {
        return None;
    }
    let name = tags.get("Name")?.clone();
    Some(crate::resources::observed::ObservedResource {
        id: crate::ids::ResourceId::new(kind, name),
        physical_id: physical_id.to_string(),
        tags,
        attributes,
        status,
        outputs: Default::default(),
    })
}

/// What `scan` reports of the stack's resources of a kind: (`label` and name, AWS id).
pub fn scanned(
    label: &str,
    found: Vec<crate::resources::observed::ObservedResource>,
) -> Vec<(String, String)> {
    found
        .into_iter()
        .map(|r| (format!("{label} {}", r.id.name), r.physical_id))
        .collect()
}

/// The AWS id of `id` among the stack's resources `found`, when an earlier run created it: a
/// create adopts it (EC2 takes no idempotency token for most creates).
pub fn made_before(
    found: Vec<crate::resources::observed::ObservedResource>,
    id: &crate::ids::ResourceId,
) -> Option<String> {
    found
        .into_iter()
        .find(|r| &r.id == id)
        .map(|r| r.physical_id)
}

/// What a delete answered: `Ok(true)` when done, or when AWS says it is gone (one of `gone`);
/// `Ok(false)` while something still holds it (one of `busy`), to try again.
pub fn deleted<T, E, R>(
    answer: Result<T, aws_sdk_ec2::error::SdkError<E, R>>,
    what: String,
    gone: &[&str],
    busy: &[&str],
) -> Result<bool, AwsError>
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match answer {
        Ok(_) => Ok(true),
        Err(error) => {
            let error = fail(what)(error);
            if gone.iter().any(|code| error.is(code)) {
                Ok(true)
            } else if busy.iter().any(|code| error.is(code)) {
                Ok(false)
            } else {
                Err(error)
            }
        }
    }
}

/// The region's Availability Zones that instances run in (no Local or Wavelength Zone, none that
/// needs opting in), available, by name.
pub async fn zones(aws: &Aws) -> Result<Vec<String>, AwsError> {
    let found = aws
        .ec2
        .describe_availability_zones()
        .filters(
            Filter::builder()
                .name("zone-type")
                .values("availability-zone")
                .build(),
        )
        .send()
        .await
        .map_err(fail("list the region's Availability Zones"))?;
    let mut zones: Vec<String> = found
        .availability_zones()
        .iter()
        .filter(|z| z.state().is_none_or(|s| s.as_str() == "available"))
        .filter(|z| {
            z.opt_in_status()
                .is_none_or(|s| s.as_str() == "opt-in-not-required")
        })
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    zones.sort();
    Ok(zones)
}

/// The SDK configuration of a create EC2 takes no idempotency token for: no automatic retries.
/// Repeating one whose answer was lost (a timeout, a 5xx after the change was made) would make a
/// second resource; [`create_untokened`] retries it itself, looking first.
pub fn without_retries() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
}

/// A unique idempotency token for one create: the SDK's own retries send the same one, so a
/// create whose answer was lost is not made twice; the next attempt (a new run) gets a new one.
pub fn client_token(name: &str) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    let attempt = Alphanumeric.sample_string(&mut rand::rng(), 16);
    let name: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    format!("{name}-{attempt}")
}

/// Whether a failed call may have been carried out, or may pass if tried again: no answer at
/// all (a timeout, a reset), throttling, or a 5xx.
fn transient(error: &AwsError) -> bool {
    match error.code.as_deref() {
        None => true,
        Some(code) => matches!(
            code,
            "RequestLimitExceeded"
                | "Throttling"
                | "ThrottlingException"
                | "InternalError"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "Unavailable"
                | "RequestTimeout"
                | "RequestTimeoutException"
        ),
    }
}

/// Make a resource EC2 takes no idempotency token for (`attempt`, sent with
/// [`without_retries`]), retrying transient failures itself: before each new attempt it looks
/// (`made`) for the one an attempt whose answer was lost may have made, and adopts it.
pub async fn create_untokened<A, AFut, M, MFut>(
    mut attempt: A,
    mut made: M,
) -> Result<String, AwsError>
where
    A: FnMut() -> AFut,
    AFut: std::future::Future<Output = Result<String, AwsError>>,
    M: FnMut() -> MFut,
    MFut: std::future::Future<Output = Result<Option<String>, AwsError>>,
{
    let mut delay = std::time::Duration::from_millis(500);
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Ok(id) => return Ok(id),
            Err(error) if transient(&error) && tries < 8 => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(20));
                if let Some(id) = made().await? {
                    return Ok(id);
                }
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod create_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A create whose answer was lost (a 503 after the change) is not sent again once the look
    /// finds what it made; a refusal is not retried at all.
    #[tokio::test]
    async fn a_create_without_a_token_looks_before_it_tries_again() {
        let attempts = AtomicUsize::new(0);
        let made = create_untokened(
            || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err(AwsError::coded("create VPC", "Unavailable", "overloaded"))
            },
            || async { Ok(Some("vpc-0made".to_string())) },
        )
        .await
        .unwrap();
        assert_eq!(made, "vpc-0made");
        assert_eq!(attempts.load(Ordering::SeqCst), 1);

        let attempts = AtomicUsize::new(0);
        let refused = create_untokened(
            || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err::<String, _>(AwsError::coded(
                    "create VPC",
                    "VpcLimitExceeded",
                    "The maximum number of VPCs has been reached.",
                ))
            },
            || async { Ok(None) },
        )
        .await
        .unwrap_err();
        assert!(refused.is("VpcLimitExceeded"));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);

        // Nothing made by the lost attempt: tried again, and the second succeeds.
        let attempts = AtomicUsize::new(0);
        let made = create_untokened(
            || async {
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(AwsError::coded("create VPC", "InternalError", "try again"))
                } else {
                    Ok("vpc-0second".to_string())
                }
            },
            || async { Ok(None) },
        )
        .await
        .unwrap();
        assert_eq!(made, "vpc-0second");
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }
}
