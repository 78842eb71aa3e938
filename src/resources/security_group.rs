//! EC2 security groups: one per tier, each admitting only the tier before it. A group is usable
//! (its id can be named) as soon as it exists, before its rules are set.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, ResourceType, TagSpecification, UserIdGroupPair,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Action, Attribute, Attributes, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource, Outputs, Status};
use super::{About, Known, Live, PlanScope, Resource, ResourceKind, Scope, StepContext};
use crate::aws::ec2::{ec2_tags, tags_of};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::names::Tier;
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("security-group", "security group");

/// The attributes plan compares.
pub const VPC_ID: &str = "vpc_id";
pub const INGRESS: &str = "ingress";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub tier: Tier,
    pub vpc_id: String,
    pub description: String,
    pub ingress: Vec<IngressRule>,
}

/// One TCP ingress rule: a port range from a CIDR block or from another of the stack's groups.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IngressRule {
    pub from_port: i32,
    pub to_port: i32,
    pub source: Source,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Cidr(String),
    /// Another security group, by name (one of the stack's) or by id (anything else seen live).
    Group(String),
}

impl IngressRule {
    /// The canonical text the plan compares, e.g. `tcp 443 from 0.0.0.0/0`.
    pub fn canonical(&self) -> String {
        let ports = if self.from_port == self.to_port {
            self.from_port.to_string()
        } else {
            format!("{}-{}", self.from_port, self.to_port)
        };
        match &self.source {
            Source::Cidr(cidr) => format!("tcp {ports} from {cidr}"),
            Source::Group(group) => format!("tcp {ports} from group {group}"),
        }
    }
}

impl Spec {
    /// The stack's groups its rules name.
    pub fn named_groups(&self) -> BTreeSet<String> {
        self.ingress
            .iter()
            .filter_map(|rule| match &rule.source {
                Source::Group(name) => Some(name.clone()),
                Source::Cidr(_) => None,
            })
            .collect()
    }
}

/// The id of a security group by name.
pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct SecurityGroups;

impl ResourceKind for SecurityGroups {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            usable_once_created: true,
            shown_by_name: true,
            ..About::new("EC2 security group")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeSecurityGroups",
            "ec2:CreateSecurityGroup",
            "ec2:CreateTags",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:DeleteSecurityGroup",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        spec: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        Attributes::new()
            .set(VPC_ID, spec.vpc_id.as_str(), Mode::Replace)
            .set(
                INGRESS,
                sorted(spec.ingress.iter().map(IngressRule::canonical)),
                Mode::InPlace,
            )
            .build()
    }

    /// A bake's builder group is kept while its bake runs, else it is an interrupted bake's.
    fn leftover(
        &self,
        live: &ObservedResource,
        plan: &PlanScope<'_>,
    ) -> Option<(Action, Option<String>)> {
        if !plan.names.is_builder_security_group(&live.id.name) {
            return None;
        }
        let adopted = super::image::baking(plan)
            .iter()
            .any(|spec| live.id.name == plan.names.builder_security_group(&spec.hash));
        Some(if adopted {
            (Action::None, None)
        } else {
            (Action::Delete, Some("left by an interrupted bake".into()))
        })
    }

    /// The groups its rules name go after it.
    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let rules = live.attributes.get(INGRESS).and_then(|v| v.as_array());
        rules
            .into_iter()
            .flatten()
            .filter_map(|rule| rule.as_str()?.split_once(" from group ").map(|(_, g)| g))
            .map(id)
            .filter(|group| group != &live.id && observed.get(group).is_some())
            .collect()
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let names = scope.names;
        let mut groups: Vec<String> = Tier::ALL.iter().map(|t| names.security_group(*t)).collect();
        for group in names.groups() {
            let own = names.group(Some(group));
            groups.extend([own.security_group, own.load_balancer_security_group]);
        }
        observe_stack(scope.aws, scope.vpc_id, names.stack(), &groups).await
    }

    async fn observe_one(
        &self,
        scope: Scope<'_>,
        id: &ResourceId,
    ) -> Result<Option<ObservedResource>, AwsError> {
        Ok(
            describe(scope.aws, scope.vpc_id, std::slice::from_ref(&id.name))
                .await?
                .into_iter()
                .next(),
        )
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        let found = scope
            .aws
            .ec2
            .describe_security_groups()
            .filters(crate::aws::ec2::stack_filter(scope.names.stack()))
            .send()
            .await
            .map_err(fail("scan security groups"))?;
        Ok(found
            .security_groups()
            .iter()
            .map(|group| {
                (
                    format!("security group {}", group.group_name().unwrap_or_default()),
                    group.group_id().unwrap_or_default().to_string(),
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
        let aws = context.aws();
        let name = &resource.id.name;
        let group = create(aws, name, &spec.vpc_id, &spec.description, &context.tags).await?;
        (context.announce)(&group);
        let ids = group_ids(spec, context.known, &resource.id)?;
        sync_ingress(aws, &group, &spec.ingress, &ids).await?;
        Ok(Live::named(group))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        _changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        let ids = group_ids(spec, context.known, &resource.id)?;
        sync_ingress(context.aws(), &live.physical_id, &spec.ingress, &ids).await?;
        Ok(live)
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let Some(live) = live else {
            return Ok(());
        };
        let aws = context.aws();
        context
            .retry("network interfaces and rules that still use it", || {
                delete(aws, &live.physical_id)
            })
            .await
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        crate::aws::ec2::set_tag(context.aws(), context.id, physical_id, key, value).await
    }

    fn not_visible_yet(&self, error: &AwsError) -> bool {
        error.is("InvalidGroup.NotFound")
    }
}

/// The ids of the groups `spec`'s rules name, which exist before its step starts.
fn group_ids(
    spec: &Spec,
    known: Known<'_>,
    user: &ResourceId,
) -> Result<BTreeMap<String, String>, AwsError> {
    spec.named_groups()
        .into_iter()
        .map(|name| {
            let physical = known.require(&id(name.as_str()), user)?;
            Ok((name, physical))
        })
        .collect()
}

/// A builder's group: no ingress at all (the builder configures itself from its user data).
pub async fn create_closed(
    aws: &Aws,
    name: &str,
    vpc_id: &str,
    description: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let group = create(aws, name, vpc_id, description, tags).await?;
    sync_ingress(aws, &group, &[], &BTreeMap::new()).await?;
    Ok(group)
}

/// The group named `name`, if it exists.
pub async fn find(
    aws: &Aws,
    vpc_id: &str,
    name: &str,
) -> Result<Option<ObservedResource>, AwsError> {
    Ok(describe(aws, vpc_id, &[name.to_string()])
        .await?
        .into_iter()
        .next())
}

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

/// The stack's security groups in `vpc_id`, by name.
async fn describe(
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
async fn observe_stack(
    aws: &Aws,
    vpc_id: &str,
    stack: &str,
    names: &[String],
) -> Result<Vec<ObservedResource>, AwsError> {
    let mut patterns = names.to_vec();
    patterns.push(format!("{stack}-*"));
    let found = describe(aws, vpc_id, &patterns).await?;
    Ok(found
        .into_iter()
        .filter(|group| names.contains(&group.id.name) || group.owner() == Some(stack))
        .collect())
}

/// Create a security group with its tags, or adopt the one a previous run created.
async fn create(
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
                _ => Err(error),
            }
        }
    }
}

/// Make the group's ingress exactly `rules` (sources resolved with `group_ids`, name -> id).
async fn sync_ingress(
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
