//! What the account says about the profile, read in one concurrent round before any change:
//! its identity, network, images, certificates, instance type offerings and the data tier's
//! catalog (the versions and classes AWS creates). Every problem found is reported at once, each
//! at its profile key with a stable code.

use std::collections::{BTreeMap, BTreeSet};

use super::{Failure, network_failure};
use crate::aws::{Aws, ec2};
use crate::profile::error::ProfileError;
use crate::profile::load::LoadedProfile;
use crate::profile::schema::BaseImage;
use crate::resources::database;
use crate::stack::Environment;
use crate::stack::catalog::Catalog;

/// Resolve the account, network and images the profile names, and read what AWS offers. The
/// profile problems found come back together (with the environment, when it could be made) so
/// that plan reports all of them at once; AWS failures stop at once.
pub async fn environment(
    loaded: &LoadedProfile,
    aws: &Aws,
) -> Result<(Option<Environment>, Vec<ProfileError>), Failure> {
    let profile = &loaded.profile;
    // Every instance type a group or a builder launches: where AWS offers it.
    let types: std::collections::BTreeSet<String> = profile
        .node_tables()
        .into_iter()
        .flat_map(|(_, _, node)| {
            std::iter::once(node.instance_type.clone())
                .chain(node.bake.iter().map(|b| b.instance_type.clone()))
        })
        .collect();
    let (identity, network, image, certificates, offerings, facts, catalog) = aws
        .patiently(async {
            tokio::join!(
                aws.identity(),
                network_facts(aws, profile),
                resolve_images(loaded, aws),
                check_certificates(loaded, aws),
                ec2::offerings(aws, &types),
                ec2::type_facts(aws, &types),
                data_tier_catalog(loaded, aws),
            )
        })
        .await;
    let mut problems = Vec::new();
    let mut keep = |result: Result<(), Failure>| match result {
        Ok(()) => Ok(()),
        Err(Failure::Profile(errors)) => {
            problems.extend(errors.0);
            Ok(())
        }
        Err(other) => Err(other),
    };
    let (account, partition) = identity?;
    let said = match certificates {
        Ok(said) => said,
        Err(failure) => {
            keep(Err(failure))?;
            Said::default()
        }
    };
    let offerings = offerings?;
    let catalog = catalog?;
    let mut owned_zones = None;
    let network = match network {
        Ok(NetworkFacts::Existing(network)) => Ok(network),
        Ok(NetworkFacts::Owned {
            zones,
            vpc_id,
            in_use,
        }) => match choose_zones(loaded, &aws.region, &zones, &in_use, &offerings) {
            Ok(zones) => {
                let names = crate::ids::names::Names::new(&profile.stack);
                let network = crate::stack::network::owned(
                    &names,
                    &profile.network,
                    &zones,
                    vpc_id.unwrap_or_default(),
                );
                owned_zones = Some(zones);
                Ok(network)
            }
            Err(error) => Err(Failure::Profile((*error).into())),
        },
        Err(error) => Err(network_failure(loaded, error)),
    };
    let (images, network) = match (image, network) {
        (Ok(images), Ok(network)) => (images, network),
        (image, network) => {
            keep(image.map(|_| ()))?;
            keep(network.map(|_| ()))?;
            return Ok((None, problems));
        }
    };
    let ec2::Network {
        vpc_id,
        subnets,
        load_balancer_subnets,
        data_subnets,
        endpoints,
    } = network;
    let (base_image, group_base_images, architectures) = images;
    let facts = facts?;
    problems.extend(check_architectures(
        loaded,
        base_image.as_deref(),
        &group_base_images,
        &architectures,
        &facts,
    ));
    let environment = Environment {
        account,
        partition,
        region: aws.region.clone(),
        vpc_id,
        subnets,
        load_balancer_subnets,
        data_subnets,
        owned_zones,
        base_image,
        group_base_images,
        offerings,
        instance_types: facts,
        catalog,
        notes: said.notes,
        warnings: said.warnings,
    };
    let mut environment = environment;
    let (errors, warnings) = check_network(loaded, &environment, &endpoints);
    problems.extend(errors);
    environment.warnings.extend(warnings);
    problems.extend(check_builders(loaded, &environment, &endpoints));
    Ok((Some(environment), problems))
}

/// What the account says of the stack's network: an existing VPC resolved, or, for one deployer
/// creates, the region's zones and the VPC's id if it exists already.
enum NetworkFacts {
    Existing(ec2::Network),
    Owned {
        zones: Vec<String>,
        vpc_id: Option<String>,
        /// The zones the stack's subnets are in already.
        in_use: BTreeSet<String>,
    },
}

async fn network_facts(
    aws: &Aws,
    profile: &crate::profile::schema::Profile,
) -> Result<NetworkFacts, ec2::NetworkError> {
    if !profile.network.creates_vpc() {
        return Ok(NetworkFacts::Existing(
            ec2::resolve_network(aws, &profile.network).await?,
        ));
    }
    let (zones, vpc_id, subnets) = tokio::join!(
        ec2::zones(aws),
        ec2::stack_vpc(aws, &profile.network, &profile.stack),
        crate::resources::subnet::describe(aws, &profile.stack),
    );
    let in_use = subnets?
        .iter()
        .filter_map(|s| s.attributes.get(crate::resources::subnet::ZONE)?.as_str())
        .map(str::to_string)
        .collect();
    Ok(NetworkFacts::Owned {
        zones: zones?,
        vpc_id: Some(vpc_id?).filter(|id| !id.is_empty()),
        in_use,
    })
}

/// The zones a VPC deployer creates spans: `network.zones` of those that offer every node
/// group's instance type, the ones its subnets are in already first (a new offering elsewhere
/// moves nothing), then by name. Fewer than that is an error at `network.zones`.
fn choose_zones(
    loaded: &LoadedProfile,
    region: &str,
    zones: &[String],
    in_use: &BTreeSet<String>,
    offerings: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<String>, Box<ProfileError>> {
    let profile = &loaded.profile;
    let wanted = profile.network.zone_count();
    let types: BTreeSet<&str> = profile
        .node_tables()
        .into_iter()
        .map(|(_, _, node)| node.instance_type.as_str())
        .collect();
    let offering: Vec<String> = zones
        .iter()
        .filter(|zone| {
            types.iter().all(|t| {
                offerings
                    .get(*t)
                    .is_none_or(|offered| offered.contains(zone.as_str()))
            })
        })
        .cloned()
        .collect();
    if offering.len() >= wanted {
        let mut chosen: Vec<String> = offering
            .iter()
            .filter(|z| in_use.contains(*z))
            .chain(offering.iter().filter(|z| !in_use.contains(*z)))
            .take(wanted)
            .cloned()
            .collect();
        chosen.sort();
        return Ok(chosen);
    }
    let types: Vec<&str> = types.into_iter().collect();
    let key = if profile.network.zones.is_some() {
        "network.zones"
    } else {
        "network.vpc"
    };
    Err(Box::new(loaded
        .error_at(
            key,
            format!(
                "the stack is to span {wanted} Availability Zones, and only {} of {}'s zones offer {}: {}",
                offering.len(),
                region,
                types.join(" and "),
                if offering.is_empty() { "none".to_string() } else { offering.join(", ") }
            ),
        )
        .with_code("network.too-few-zones")
        .with_hint(if offering.len() >= 2 {
            format!("set zones = {} or fewer, or choose an instance type more zones offer", offering.len())
        } else {
            "choose an instance type that more zones offer".to_string()
        })))
}

/// A bake from a moving base image (a lookup, a parameter) stays on the base image its group's
/// newest image was baked from (`observed`), unless `refresh`: an AWS release does not rebake and
/// roll every node by surprise. A newer one is noted. The image stayed on is described first: one
/// AWS no longer has, or of an architecture the builder's type does not run (the profile moved to
/// another line of images), is not stayed on.
pub async fn keep_base_images(
    loaded: &LoadedProfile,
    aws: &Aws,
    names: &crate::ids::names::Names,
    environment: &mut Environment,
    observed: &crate::resources::observed::Observed,
    refresh: bool,
) -> Result<(), Failure> {
    let baked = crate::resources::image::baked_from(observed);
    // (group, its node table's key, the builder's type, the image stayed on)
    let mut candidates = Vec::new();
    for (group, at, node) in loaded.profile.node_tables() {
        let Some(bake) = node.bake.as_ref().filter(|b| b.base_image.moves()) else {
            continue;
        };
        if refresh {
            continue;
        }
        let Some(baked) = baked.get(&names.group(group).image_prefix) else {
            continue;
        };
        let current = match group {
            None => environment.base_image.as_ref(),
            Some(name) => environment.group_base_images.get(name),
        };
        if current.is_some_and(|current| current != baked) {
            candidates.push((group, at, bake.instance_type.clone(), baked.clone()));
        }
    }
    let described = futures::future::join_all(
        candidates
            .iter()
            .map(|(_, _, _, baked)| ec2::image_facts(aws, baked)),
    )
    .await;
    for ((group, at, instance_type, baked), facts) in candidates.into_iter().zip(described) {
        let runs = environment
            .instance_types
            .get(&instance_type)
            .map(|t| t.architectures.clone());
        let current = match group {
            None => environment.base_image.as_mut(),
            Some(name) => environment.group_base_images.get_mut(name),
        }
        .expect("a candidate has a current base image");
        let key = format!("{at}.bake.base_image");
        let note = match facts? {
            None => format!(
                "the base image the nodes' image was baked from ({baked}) is gone; the next bake uses {current}"
            ),
            Some(facts)
                if facts.architecture.as_ref().is_some_and(|architecture| {
                    runs.as_ref()
                        .is_some_and(|runs| !runs.contains(architecture))
                }) =>
            {
                format!(
                    "the base image the nodes' image was baked from ({baked}) is {}, which {instance_type} does not run; the next bake uses {current}",
                    facts.architecture.unwrap_or_default()
                )
            }
            Some(_) => {
                let note = format!(
                    "a newer base image is out ({current}); the nodes stay on {baked}, which their image was baked from: `apply --refresh-base-image` bakes from the new one and rolls the nodes"
                );
                *current = baked;
                note
            }
        };
        environment
            .notes
            .push(loaded.error_at(&key, note).to_string());
    }
    Ok(())
}

/// What RDS and ElastiCache create, for the profile's data tier: the versions, the
/// combinations the database's class is orderable with (and, only when the version it resolves
/// to is not among them, the classes that version runs on, for the hint), and whether the
/// region offers the cache's node type.
async fn data_tier_catalog(loaded: &LoadedProfile, aws: &Aws) -> Result<Catalog, Failure> {
    let profile = &loaded.profile;
    let database = async {
        let Some(db) = &profile.database else {
            return Ok::<_, crate::aws::AwsError>((None, None, None));
        };
        let (versions, orderable) = tokio::join!(
            database::catalog::creatable_versions(aws),
            database::catalog::orderable(aws, &db.instance_class),
        );
        let (versions, orderable) = (versions?, orderable?);
        // The version plan checks the class against: the profile's, or the one its refusal
        // names.
        let version = match crate::stack::catalog::resolve(&db.engine_version, &versions) {
            Ok(version) | Err(Some(version)) => Some(version),
            Err(None) => None,
        };
        let classes = match version {
            Some(version) if !orderable.iter().any(|o| o.version == version) => {
                Some(database::catalog::classes_for(aws, &version).await?)
            }
            _ => None,
        };
        Ok((Some(versions), Some(orderable), classes))
    };
    let cache = async {
        let Some(cache) = &profile.cache else {
            return Ok::<_, crate::aws::AwsError>((None, None));
        };
        let (versions, types) = tokio::join!(
            crate::resources::cache::creatable_versions(aws),
            crate::resources::cache::offered_node_types(aws, &cache.node_type),
        );
        Ok((Some(versions?), Some(types?)))
    };
    let (database, cache) = tokio::join!(database, cache);
    let (database_versions, database_orderable, database_classes) = database?;
    let (cache_versions, cache_node_types) = cache?;
    Ok(Catalog {
        database_versions,
        database_orderable,
        database_classes,
        cache_versions,
        cache_node_types,
    })
}

/// Check that each listener's ACM certificate exists (an IAM server certificate is left to
/// the load balancer): a wrong ARN is found by plan, at its listener, not half-way into apply.
/// What it says besides errors goes into `said` (notes, warnings).
async fn check_certificates(loaded: &LoadedProfile, aws: &Aws) -> Result<Said, Failure> {
    let listeners = &loaded.profile.load_balancer.listeners;
    let arns: Vec<Option<&str>> = listeners.iter().map(|l| l.certificate.as_deref()).collect();
    let found =
        crate::resources::load_balancer::certificates(aws, arns.iter().flatten().copied()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut said = Said::default();
    let errors: Vec<_> = arns
        .iter()
        .enumerate()
        .filter_map(|(i, arn)| {
            let arn = (*arn)?;
            let key = format!("load_balancer.listeners[{i}].certificate");
            let error = match found.get(arn)? {
                Ok(certificate) => {
                    return certificate_problem(loaded, &key, arn, certificate, now, &mut said);
                }
                Err(error) => error,
            };
            Some(if error.is("ResourceNotFoundException") {
                loaded
                    .error_at(
                        &key,
                        format!("no such certificate in {}: {arn}", aws.region),
                    )
                    .with_code("certificate.not-found")
                    .with_hint("`aws acm list-certificates` lists the region's certificates")
            } else {
                loaded
                    .error_at(&key, format!("cannot read the certificate: {error}"))
                    .with_code("certificate.unreadable")
                    .with_hint(error.hint.clone().unwrap_or_else(|| {
                        "check the ARN and that acm:DescribeCertificate is allowed".into()
                    }))
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(said)
    } else {
        Err(Failure::Profile(crate::profile::error::ProfileErrors(
            errors,
        )))
    }
}

/// What a check says that stops nothing, located: shown with the plan.
#[derive(Default)]
struct Said {
    notes: Vec<String>,
    warnings: Vec<String>,
}

/// Each group's image (its own, or its bake's base image) must be of an architecture its
/// instance type runs, and so must the builder's: an arm64 type (t4g, m7g) cannot boot an x86_64
/// image, and RunInstances says so only at launch. `architectures`: image -> architecture;
/// `types`: what AWS says of each instance type (the architectures it runs).
fn check_architectures(
    loaded: &LoadedProfile,
    base_image: Option<&str>,
    group_base_images: &BTreeMap<String, String>,
    architectures: &BTreeMap<String, String>,
    types: &BTreeMap<String, ec2::TypeFacts>,
) -> Vec<ProfileError> {
    let mut errors = Vec::new();
    for (group, at, node) in loaded.profile.node_tables() {
        let base = match group {
            None => base_image,
            Some(name) => group_base_images.get(name).map(String::as_str),
        };
        // The image the group's instances run: its own, else what its bake starts from.
        let Some(image) = node.image.as_deref().or(base) else {
            continue;
        };
        let Some(architecture) = architectures.get(image) else {
            continue;
        };
        let mut check = |key: String, instance_type: &str| {
            if let Some(supported) = types.get(instance_type).map(|t| &t.architectures)
                && !supported.contains(architecture)
            {
                errors.push(
                    loaded
                        .error_at(
                            &key,
                            format!(
                                "{instance_type} runs {}, but image {image} is {architecture}",
                                supported.join(", ")
                            ),
                        )
                        .with_code("image.architecture")
                        .with_hint(if architecture == "arm64" {
                            "choose a Graviton type (t4g, m7g, c7g, ...) or an x86_64 image"
                        } else {
                            "choose an x86_64 type (t3, m6i, c6i, ...) or an arm64 image"
                        }),
                );
            }
        };
        check(format!("{at}.instance_type"), &node.instance_type);
        if let Some(bake) = &node.bake {
            check(format!("{at}.bake.instance_type"), &bake.instance_type);
        }
    }
    errors
}

/// A certificate ELB cannot use (not ISSUED) is an error at its listener; one that expires within
/// 30 days is a warning; otherwise a note says which domain the listener serves.
fn certificate_problem(
    loaded: &LoadedProfile,
    key: &str,
    arn: &str,
    certificate: &crate::resources::load_balancer::Certificate,
    now: i64,
    said: &mut Said,
) -> Option<crate::profile::error::ProfileError> {
    const DAY: i64 = 24 * 60 * 60;
    if certificate.status != "ISSUED" {
        let hint = if certificate.status == "PENDING_VALIDATION" {
            "ACM issues it once its validation (the DNS record or the e-mail) is done: run again then"
        } else {
            "request or import a certificate, and put its ARN here"
        };
        return Some(
            loaded
                .error_at(
                    key,
                    format!(
                        "certificate {arn} ({}) is {}, not ISSUED: the load balancer cannot use it",
                        certificate.domain, certificate.status
                    ),
                )
                .with_code("certificate.not-issued")
                .with_hint(hint),
        );
    }
    let expires = certificate.not_after.map(|at| (at - now) / DAY);
    let text = match expires {
        Some(days) if days < 30 => {
            said.warnings.push(
                loaded
                    .error_at(
                        key,
                        format!(
                            "the certificate for {} expires in {days} day(s): renew it, or the listener serves an expired one",
                            certificate.domain
                        ),
                    )
                    .with_code("certificate.expiring")
                    .warning(),
            );
            return None;
        }
        Some(days) => format!(
            "serves {} (ISSUED, expires in {days} days)",
            certificate.domain
        ),
        None => format!("serves {} (ISSUED)", certificate.domain),
    };
    said.notes.push(loaded.error_at(key, text).to_string());
    None
}

/// The main group's bake base image, each extra group's by name, and the architecture of every
/// image a group runs or bakes from.
type ResolvedImages = (
    Option<String>,
    BTreeMap<String, String>,
    BTreeMap<String, String>,
);

/// Check that each node group's image exists, or resolve its bake's base image: the main
/// group's, and each extra group's by name. Each distinct image or lookup is asked for once.
async fn resolve_images(loaded: &LoadedProfile, aws: &Aws) -> Result<ResolvedImages, Failure> {
    let nodes = loaded.profile.node_tables();
    // The first node table naming each image or lookup is where an error about it points.
    let mut distinct: Vec<(&str, &crate::profile::schema::Node)> = Vec::new();
    // What is looked up: the group's own image, else its bake's base image (the same AMI id
    // named both ways is asked for once).
    let key = |node: &crate::profile::schema::Node| {
        match (&node.image, &node.bake) {
            (Some(image), _) => serde_json::to_string(&BaseImage::Id(image.clone())),
            (None, Some(bake)) => serde_json::to_string(&bake.base_image),
            (None, None) => Ok(String::new()),
        }
        .unwrap_or_default()
    };
    for (_, at, node) in &nodes {
        if !distinct.iter().any(|(_, seen)| key(seen) == key(node)) {
            distinct.push((at, node));
        }
    }
    let each = distinct
        .iter()
        .map(|(at, node)| async move { (key(node), resolve_image(loaded, aws, node, at).await) });
    // Every image's problem at once; an AWS failure stops.
    let mut resolved: BTreeMap<String, Option<ec2::ImageFacts>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (key, result) in futures::future::join_all(each).await {
        match result {
            Ok(found) => {
                resolved.insert(key, found);
            }
            Err(Failure::Profile(errors)) => problems.extend(errors.0),
            Err(other) => return Err(other),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Profile(crate::profile::error::ProfileErrors(
            problems,
        )));
    }
    let architectures = resolved
        .values()
        .flatten()
        .filter_map(|image| Some((image.id.clone(), image.architecture.clone()?)))
        .collect();
    let mut main = None;
    let mut groups = BTreeMap::new();
    for (group, _, node) in &nodes {
        // A bake's base image; a group with its own image has none.
        let base = resolved
            .get(&key(node))
            .cloned()
            .flatten()
            .filter(|_| node.image.is_none())
            .map(|image| image.id);
        match (group, base) {
            (None, base) => main = base,
            (Some(name), Some(base)) => {
                groups.insert(name.to_string(), base);
            }
            (Some(_), None) => {}
        }
    }
    Ok((main, groups, architectures))
}

/// Check that the node image exists, or resolve the bake's base image (the newest match of a
/// lookup). Returns the image the group runs or bakes from. `at` is the node table's key.
async fn resolve_image(
    loaded: &LoadedProfile,
    aws: &Aws,
    node: &crate::profile::schema::Node,
    at: &str,
) -> Result<Option<ec2::ImageFacts>, Failure> {
    let missing = |key: &str, message: String, hint: &str| {
        Failure::Profile(
            loaded
                .error_at(&format!("{at}.{key}"), message)
                .with_code("image.not-found")
                .with_hint(hint)
                .into(),
        )
    };
    match (&node.image, &node.bake) {
        (Some(image), _) => match ec2::image_facts(aws, image).await? {
            Some(found) => Ok(Some(found)),
            None => Err(missing(
                "image",
                format!(
                    "image {image} does not exist in {} (or is not visible to this account)",
                    aws.region
                ),
                "give an AMI id from this region",
            )),
        },
        (None, Some(bake)) => match ec2::resolve_base_image(aws, &bake.base_image).await? {
            Some(found) => Ok(Some(found)),
            None => Err(match &bake.base_image {
                BaseImage::Id(id) => missing(
                    "bake.base_image",
                    format!(
                        "image {id} does not exist in {} (or is not visible to this account)",
                        aws.region
                    ),
                    "give an AMI id from this region, or a lookup { owner, name }",
                ),
                BaseImage::Parameter(parameter) => missing(
                    "bake.base_image.ssm",
                    format!(
                        "SSM parameter {} does not exist in {}, or names no image",
                        parameter.ssm, aws.region
                    ),
                    "`aws ssm get-parameters-by-path --path /aws/service/ami-amazon-linux-latest` lists AWS's",
                ),
                BaseImage::Lookup(lookup) => missing(
                    "bake.base_image",
                    format!(
                        "no available image of owner {} matches `{}` in {}",
                        lookup.owner, lookup.name, aws.region
                    ),
                    "check the owner and the name pattern (* and ? are wildcards)",
                ),
            }),
        },
        (None, None) => Ok(None),
    }
}

/// What the account's quotas cannot hold of `plan` (see `stack::quotas`); what leaves little
/// room is printed as a warning. Read only for what the plan creates or grows: a plan that changes
/// no count and no capacity makes no request. A listing that fails skips its quota, with a warning.
pub async fn check_quotas(
    loaded: &LoadedProfile,
    aws: &Aws,
    desired: &crate::stack::Desired,
    plan: &crate::plan::Plan,
) -> Vec<ProfileError> {
    use crate::stack::quotas;
    let vcpus: BTreeMap<String, u32> = desired
        .environment
        .instance_types
        .iter()
        .map(|(t, facts)| (t.clone(), facts.vcpus))
        .collect();
    let vcpus = &vcpus;
    let demands = quotas::demands(desired, plan, vcpus);
    if demands.is_empty() {
        return Vec::new();
    }
    let readings = futures::future::join_all(demands.iter().map(|demand| async move {
        (
            demand.quota,
            crate::aws::quotas::reading(aws, demand.quota, &desired.stack, vcpus).await,
        )
    }))
    .await;
    let mut read = BTreeMap::new();
    for (quota, reading) in readings {
        match reading {
            Ok(reading) => {
                read.insert(quota, reading);
            }
            Err(error) => crate::render::errors::warning(&format!(
                "the {} quota is not checked: {error}",
                quota.unit()
            )),
        }
    }
    let (errors, warnings) = quotas::judge(loaded, &aws.region, &demands, &read);
    for warning in warnings {
        crate::render::errors::warning(&warning);
    }
    errors
}

/// Whether the stack's subnets give the nodes what they need outside the VPC. The nodes get no
/// public IP, so they need a NAT route (or another way out), or a VPC endpoint for what their boot
/// template reads (Secrets Manager, for the database's and the cache's secrets). An
/// internet-facing load balancer needs subnets that route to an internet gateway, and a Classic
/// ELB sends traffic only to instances in the zones it has a subnet in. Where the profile gives
/// the load balancer and the nodes subnets of their own these are errors (the profile chose them
/// wrongly); where every tier shares one set (the default VPC's), warnings: no one set can be
/// right for both.
fn check_network(
    loaded: &LoadedProfile,
    environment: &Environment,
    endpoints: &ec2::Endpoints,
) -> (Vec<ProfileError>, Vec<String>) {
    let profile = &loaded.profile;
    let separate = profile.network.separates_tiers();
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    let mut say = |error: ProfileError| {
        if separate {
            errors.push(error);
        } else {
            warnings.push(error.warning());
        }
    };
    let egress = |s: &ec2::Subnet| s.egress.clone().unwrap_or(ec2::Egress::NoRoute);
    let subnets = &environment.subnets;
    let reads_secrets = profile.database.is_some()
        || profile
            .cache
            .as_ref()
            .is_some_and(|c| c.encryption_in_transit);
    let served = reads_secrets && endpoints.0.contains("secretsmanager");
    // Where the subnets without a way out send 0.0.0.0/0: "to igw-1: a, b; no route out: c".
    let mut cut_off: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for subnet in subnets.iter().filter(|s| !egress(s).without_public_ip()) {
        let target = match egress(subnet) {
            ec2::Egress::InternetGateway(igw) => format!("to internet gateway {igw}"),
            _ => "no route out".to_string(),
        };
        cut_off.entry(target).or_default().push(&subnet.id);
    }
    let internet_facing =
        profile.load_balancer.scheme == crate::profile::schema::Scheme::InternetFacing;
    if !cut_off.is_empty() && !served {
        let count: usize = cut_off.values().map(Vec::len).sum();
        let whose = if separate { "nodes'" } else { "stack's" };
        let which = if count == subnets.len() {
            format!("none of the {whose} {count} subnets gives them a way out of the VPC")
        } else {
            format!(
                "{count} of the {whose} {} subnets give them no way out of the VPC",
                subnets.len()
            )
        };
        let places: Vec<String> = cut_off
            .iter()
            .map(|(target, ids)| format!("{target}: {}", ids.join(", ")))
            .collect();
        let shared = if internet_facing && !separate {
            " (subnets they share with the internet-facing load balancer)"
        } else {
            ""
        };
        let key = if profile.network.creates_vpc() {
            "network.nat"
        } else if separate {
            "network.node_subnets"
        } else if profile.network.subnets.is_some() {
            "network.subnets"
        } else {
            "network.vpc"
        };
        say(loaded
            .error_at(
                key,
                format!(
                    "the nodes get no public IP, and {which} ({}){shared}: nodes there reach no AWS API (Secrets Manager, where the boot template reads the database's and the cache's secrets; SSM; CloudWatch) nor a package mirror, and on AWS they never pass the health check",
                    places.join("; ")
                ),
            )
            .with_code("network.no-egress")
            .with_hint(if profile.network.creates_vpc() {
                "add \"secretsmanager\" (and what else the nodes read) to network.endpoints, or give the VPC NAT gateways (nat = \"per-zone\" or \"single\")"
            } else if separate {
                "give the nodes subnets whose route table sends 0.0.0.0/0 to a NAT gateway, or add VPC endpoints (secretsmanager with private DNS) for what they read"
            } else {
                "give the load balancer and the nodes subnets of their own (`load_balancer_subnets`, `node_subnets`: private ones with a NAT route for the nodes), or add VPC endpoints (secretsmanager with private DNS) for what the nodes read"
            }));
    }
    // Nodes that reach AWS through interface endpoints only: the ones their logs and Session
    // Manager need ("Create VPC endpoints for Systems Manager": ssm, ssmmessages, ec2messages).
    let mut missing_endpoints = None;
    if !cut_off.is_empty() && served {
        let mut wanted: Vec<(&str, &str)> = Vec::new();
        if profile.logs.enabled {
            wanted.push(("logs", "the CloudWatch agent ships the nodes' logs"));
        }
        if profile.ssm {
            for service in ["ssm", "ssmmessages", "ec2messages"] {
                wanted.push((service, "Session Manager"));
            }
        }
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|(service, _)| !endpoints.0.contains(*service))
            .map(|(service, _)| *service)
            .collect();
        if !missing.is_empty() {
            let uses: BTreeSet<&str> = wanted
                .iter()
                .filter(|(service, _)| missing.contains(service))
                .map(|(_, what)| *what)
                .collect();
            missing_endpoints = Some(
                loaded
                    .error_at(
                        "network.endpoints",
                        format!(
                            "the nodes reach AWS through VPC endpoints only, and the VPC has none for {} ({})",
                            missing.join(", "),
                            uses.into_iter().collect::<Vec<_>>().join("; ")
                        ),
                    )
                    .with_code("network.endpoints-missing")
                    .with_hint(format!(
                        "add {} to network.endpoints, or turn what needs them off ([logs] enabled = false, ssm = false)",
                        missing.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
                    ))
                    .warning(),
            );
        }
    }
    // An internet-facing balancer in subnets with no internet gateway route has no way in.
    let private: Vec<&str> = environment
        .load_balancer_subnets()
        .iter()
        .filter(|s| !matches!(egress(s), ec2::Egress::InternetGateway(_)))
        .map(|s| s.id.as_str())
        .collect();
    if internet_facing && !private.is_empty() {
        say(loaded
            .error_at(
                if separate {
                    "network.load_balancer_subnets"
                } else {
                    "load_balancer.scheme"
                },
                format!(
                    "the internet-facing load balancer is placed in subnets that do not route to an internet gateway: {}; the internet cannot reach it through them",
                    private.join(", ")
                ),
            )
            .with_code("network.load-balancer-not-public")
            .with_hint("give the load balancer public subnets (0.0.0.0/0 to an internet gateway), or `scheme = \"internal\"`"));
    }
    // A node in a zone where the balancer has no subnet gets no traffic from it.
    let balanced: BTreeSet<&str> = environment
        .load_balancer_subnets()
        .iter()
        .map(|s| s.zone.as_str())
        .collect();
    let ids = profile.network.node_subnets.as_deref().unwrap_or_default();
    for subnet in subnets
        .iter()
        .filter(|s| !balanced.contains(s.zone.as_str()))
    {
        let index = ids.iter().position(|id| *id == subnet.id).unwrap_or(0);
        say(loaded
            .error_at(
                &format!("network.node_subnets[{index}]"),
                format!(
                    "subnet {} is in {}, where the load balancer has no subnet: a Classic ELB sends no traffic to instances in a zone it is not in",
                    subnet.id, subnet.zone
                ),
            )
            .with_code("network.zone-not-balanced")
            .with_hint(format!(
                "give the load balancer a subnet in {}, or the nodes none there (the load balancer's zones: {})",
                subnet.zone,
                balanced.iter().copied().collect::<Vec<_>>().join(", ")
            )));
    }
    warnings.extend(missing_endpoints);
    (errors, warnings)
}

/// Each bake's builder needs its package repositories: the subnet it launches in
/// (`Environment::builder_subnet`) must have a way out (where that is an internet gateway, the
/// builder gets a public IP), or the VPC an S3 gateway endpoint (Amazon Linux's repositories
/// are in S3).
fn check_builders(
    loaded: &LoadedProfile,
    environment: &Environment,
    endpoints: &ec2::Endpoints,
) -> Vec<ProfileError> {
    if endpoints.0.contains("s3") {
        return Vec::new();
    }
    let mut errors = Vec::new();
    for (_, at, node) in loaded.profile.node_tables() {
        let Some(bake) = &node.bake else {
            continue;
        };
        let (subnet, _) = environment.builder_subnet(&bake.instance_type);
        let all = environment.all_subnets();
        let cut_off = all
            .iter()
            .find(|s| s.id == subnet)
            .is_some_and(|s| s.egress == Some(ec2::Egress::NoRoute));
        if cut_off {
            // Only subnets in zones that do not offer the builder's type may have a way out.
            let elsewhere = all.iter().any(|s| {
                s.egress
                    .as_ref()
                    .is_some_and(|e| *e != ec2::Egress::NoRoute)
            });
            let only = if elsewhere {
                format!(" in the zones that offer {}", bake.instance_type)
            } else {
                String::new()
            };
            errors.push(
                loaded
                    .error_at(
                        &format!("{at}.bake"),
                        format!(
                            "no subnet of the stack routes 0.0.0.0/0 anywhere{only}, and the VPC has no S3 gateway endpoint: the {} builder (in {subnet}) could not reach its package repositories, and the bake would time out",
                            bake.instance_type
                        ),
                    )
                    .with_code("network.builder-no-internet")
                    .with_hint("give the stack a subnet with a NAT gateway or internet gateway route, or add an S3 gateway endpoint to the VPC"),
            );
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(network: &str) -> (LoadedProfile, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            format!(
                "stack = \"shop\"\nregion = \"us-east-1\"\n[network]\n{network}\n[node]\nimage = \"ami-0123456789abcdef0\"\ninstance_type = \"m5.large\"\n[[load_balancer.listeners]]\nport = 80\nprotocol = \"HTTP\"\ninstance_port = 80\nallow = [\"0.0.0.0/0\"]\n"
            ),
        )
        .unwrap();
        (
            crate::profile::load::load(path.to_str().unwrap()).unwrap(),
            dir,
        )
    }

    #[test]
    fn a_created_vpc_keeps_its_zones_and_skips_those_without_the_node_type() {
        let region: Vec<String> = ["a", "b", "c", "d", "e", "f"]
            .map(|z| format!("us-east-1{z}"))
            .into();
        // Like us-east-1: no m5 in 1e.
        let offerings = BTreeMap::from([(
            "m5.large".to_string(),
            ["a", "b", "c", "d", "f"]
                .map(|z| format!("us-east-1{z}"))
                .into(),
        )]);
        let (three, _dir) = loaded("vpc = \"create\"");
        let chosen = |loaded: &LoadedProfile, in_use: &[&str]| {
            let in_use = in_use.iter().map(|z| z.to_string()).collect();
            choose_zones(loaded, "us-east-1", &region, &in_use, &offerings)
        };
        assert_eq!(
            chosen(&three, &[]).unwrap(),
            ["us-east-1a", "us-east-1b", "us-east-1c"]
        );
        // A stack already in b, d and f stays there, whatever comes first by name.
        assert_eq!(
            chosen(&three, &["us-east-1b", "us-east-1d", "us-east-1f"]).unwrap(),
            ["us-east-1b", "us-east-1d", "us-east-1f"]
        );
        // One more zone: the first free one by name joins them.
        let (four, _dir) = loaded("vpc = \"create\"\nzones = 4");
        assert_eq!(
            chosen(&four, &["us-east-1b", "us-east-1d", "us-east-1f"]).unwrap(),
            ["us-east-1a", "us-east-1b", "us-east-1d", "us-east-1f"]
        );
        let (six, _dir) = loaded("vpc = \"create\"\nzones = 6");
        let error = chosen(&six, &[]).unwrap_err();
        assert_eq!(error.code, Some("network.too-few-zones"));
        assert_eq!(error.key.as_deref(), Some("network.zones"));
        assert!(
            error
                .to_string()
                .contains("only 5 of us-east-1's zones offer m5.large"),
            "{error}"
        );
        assert!(
            error.hint.as_deref().unwrap_or("").contains("zones = 5"),
            "{:?}",
            error.hint
        );
    }
}
