//! Calls for EC2 security groups: describe by name (the stack's, with a wildcard), create (or
//! adopt), make the ingress rules exactly the desired ones, delete.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, ResourceType, TagSpecification, UserIdGroupPair,
};
use serde_json::{Map, json};

use super::*;
use crate::aws::ec2::{ec2_tags, tags_of};
use crate::aws::{Aws, AwsError, fail};
use crate::resources::attributes::sorted;
use crate::resources::observed::{ObservedResource, Outputs, Status};

/// One ingress permission per source, keyed by its canonical text. Each keeps its description:
/// AWS revokes a rule without one, but the emulator matches a group rule on it too.
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
                    .ip_ranges(
                        IpRange::builder()
                            .cidr_ip(cidr)
                            .set_description(range.description().map(str::to_string))
                            .build(),
                    )
                    .build(),
            ));
        }
        for range in p.ipv6_ranges() {
            let cidr = range.cidr_ipv6().unwrap_or_default();
            entries.push((
                format!("{label} from {cidr}"),
                base()
                    .ipv6_ranges(
                        Ipv6Range::builder()
                            .cidr_ipv6(cidr)
                            .set_description(range.description().map(str::to_string))
                            .build(),
                    )
                    .build(),
            ));
        }
        for pair in p.user_id_group_pairs() {
            let group = pair.group_id().unwrap_or_default();
            entries.push((
                format!("{label} from group {group}"),
                base()
                    .user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id(group)
                            .set_description(pair.description().map(str::to_string))
                            .build(),
                    )
                    .build(),
            ));
        }
    }
    entries
}

/// The security groups named `names` in `vpc_id` (in any VPC when it is empty: the stack's own
/// VPC is yet to be created).
pub(super) async fn describe(
    aws: &Aws,
    vpc_id: &str,
    names: &[String],
) -> Result<Vec<ObservedResource>, AwsError> {
    let mut request = aws.ec2.describe_security_groups();
    if !vpc_id.is_empty() {
        request = request.filters(Filter::builder().name("vpc-id").values(vpc_id).build());
    }
    let found = request
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
                id: ResourceId::new(KIND, group.group_name().unwrap_or_default()),
                physical_id: group.group_id().unwrap_or_default().to_string(),
                tags: tags_of(group.tags()),
                attributes,
                status: Status::Ready,
                outputs: Outputs::default(),
            }
        })
        .collect())
}

/// The stack's security groups in `vpc_id`: those named `names` (ours or not: a same-named group
/// of someone else's must be seen), and any other whose name starts with `<stack>-` and that is
/// tagged as the stack's, which is how observe finds the node groups the profile no longer
/// declares (their groups carry the tag `deployer:group`). One request: a name filter with a
/// wildcard (a tag filter is slow on the emulator).
pub(super) async fn observe_stack(
    aws: &Aws,
    vpc_id: &str,
    stack: &str,
    names: &[String],
) -> Result<Vec<ObservedResource>, AwsError> {
    let mut patterns = names.to_vec();
    patterns.push(format!("{stack}-*"));
    let found = describe(aws, vpc_id, &patterns).await?;
    // Before its VPC exists, the stack's own groups elsewhere (in the VPC it lived in before)
    // are what counts; another's of the same name in another VPC is no conflict.
    Ok(found
        .into_iter()
        .filter(|group| {
            group.owner() == Some(stack) || (!vpc_id.is_empty() && names.contains(&group.id.name))
        })
        .collect())
}

/// Create a security group with its tags, or adopt the one a previous run created.
pub(super) async fn create(
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
            let found = describe(aws, vpc_id, &[name.to_string()]).await?;
            match found.into_iter().next() {
                Some(group) if crate::aws::same_owner(&group, tags) => Ok(group.physical_id),
                // EC2 says it exists (an earlier attempt made it) but its list does not show it
                // yet: eventual consistency, tried again as any "not visible yet".
                None => Err(AwsError::not_visible_yet(
                    format!("create security group {name}"),
                    "the group exists but EC2 does not list it yet",
                )),
                Some(_) => Err(error),
            }
        }
    }
}

/// Make the group's ingress exactly `rules` (sources resolved with `group_ids`, name -> id).
pub(super) async fn sync_ingress(
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
    if !revoke.is_empty()
        && let Err(error) = aws
            .ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(revoke))
            .send()
            .await
    {
        // A rule a previous, interrupted attempt already removed.
        let error = fail(what.clone())(error);
        if !error.is("InvalidPermission.NotFound") {
            return Err(error);
        }
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
pub async fn delete(aws: &Aws, group_id: &str) -> Result<bool, AwsError> {
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
