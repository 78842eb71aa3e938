//! EC2 security groups: one per tier, each admitting only the tier before it. A group is usable
//! (its id can be named) as soon as it exists, before its rules are set.

mod calls;

pub use calls::delete;
use calls::*;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::attributes::{Action, Attribute, Attributes, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource};
use super::{About, Known, Live, PlanScope, Resource, ResourceKind, Scope, StepContext};
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

    /// The groups its rules name go after it, and the stack's VPC.
    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let rules = live.attributes.get(INGRESS).and_then(|v| v.as_array());
        let mut uses: Vec<ResourceId> = rules
            .into_iter()
            .flatten()
            .filter_map(|rule| rule.as_str()?.split_once(" from group ").map(|(_, g)| g))
            .map(id)
            .filter(|group| group != &live.id && observed.get(group).is_some())
            .collect();
        uses.extend(super::names_in(live, VPC_ID, super::vpc::KIND, observed));
        uses
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
        let stack = scope.names.stack();
        Ok(
            describe(scope.aws, scope.vpc_id, std::slice::from_ref(&id.name))
                .await?
                .into_iter()
                // In any VPC (before the stack's own exists), only the stack's own.
                .find(|group| !scope.vpc_id.is_empty() || group.owner() == Some(stack)),
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
