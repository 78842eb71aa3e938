//! A subnet of the VPC deployer creates: one public (the load balancer's, the NAT gateways') and
//! one private (the nodes', the database's, the cache's) per Availability Zone. No instance in
//! one gets a public IP by default: a bake's builder asks for one explicitly.

use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Mode};
use super::observed::{Observed, ObservedResource, Status};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext, names_in, vpc};
use crate::aws::ec2::{
    create_untokened, deleted, made_before, observed_resource, scanned, stack_filter,
    tag_specification, without_retries,
};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("subnet", "subnet");

pub const VPC: &str = "vpc";
pub const CIDR: &str = "cidr";
pub const ZONE: &str = "zone";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The VPC (a reference to the stack's).
    pub vpc: String,
    pub cidr: String,
    pub zone: String,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct Subnets;

impl ResourceKind for Subnets {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            shown_by_name: true,
            // A load balancer's or a database's network interfaces linger for minutes after it.
            wait_limit: std::time::Duration::from_secs(30 * 60),
            ..About::new("EC2 subnet")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeSubnets",
            "ec2:CreateSubnet",
            "ec2:CreateTags",
            "ec2:DeleteSubnet",
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
            .set(VPC, spec.vpc.as_str(), Mode::Replace)
            .set(CIDR, spec.cidr.as_str(), Mode::Replace)
            .set(ZONE, spec.zone.as_str(), Mode::Replace)
            .build()
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        names_in(live, VPC, vpc::KIND, observed)
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        describe(scope.aws, scope.names.stack()).await
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        Ok(scanned(
            "subnet",
            describe(scope.aws, scope.names.stack()).await?,
        ))
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let subnet = match made_before(describe(aws, context.stack()).await?, context.id) {
            Some(subnet) => subnet,
            None => {
                create_untokened(
                    || async {
                        let created = aws
                            .ec2
                            .create_subnet()
                            .vpc_id(&spec.vpc)
                            .cidr_block(&spec.cidr)
                            .availability_zone(&spec.zone)
                            .tag_specifications(tag_specification(
                                ResourceType::Subnet,
                                &context.tags,
                            ))
                            .customize()
                            .config_override(without_retries())
                            .send()
                            .await
                            .map_err(fail(format!("create subnet {}", resource.id.name)))?;
                        Ok(created
                            .subnet()
                            .and_then(|s| s.subnet_id())
                            .unwrap_or_default()
                            .to_string())
                    },
                    || async {
                        Ok(made_before(
                            describe(aws, context.stack()).await?,
                            context.id,
                        ))
                    },
                )
                .await?
            }
        };
        (context.announce)(&subnet);
        context.until_ready().await?;
        Ok(Live::named(subnet))
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let Some(live) = live else {
            return Ok(());
        };
        let aws = context.aws();
        context
            .retry("network interfaces still in it", || {
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
        error.is("InvalidSubnetID.NotFound")
    }
}

/// The stack's subnets (by its tag).
pub async fn describe(aws: &Aws, stack: &str) -> Result<Vec<ObservedResource>, AwsError> {
    let found = crate::aws::every_item!(
        aws.ec2.describe_subnets().filters(stack_filter(stack)),
        "describe the stack's subnets"
    )?;
    Ok(found
        .iter()
        .filter_map(|subnet| {
            let mut attributes = Map::new();
            attributes.insert(VPC.into(), json!(subnet.vpc_id().unwrap_or_default()));
            attributes.insert(CIDR.into(), json!(subnet.cidr_block().unwrap_or_default()));
            attributes.insert(
                ZONE.into(),
                json!(subnet.availability_zone().unwrap_or_default()),
            );
            let status = match subnet.state().map(|s| s.as_str()) {
                Some("pending") => Status::Pending("pending".into()),
                _ => Status::Ready,
            };
            observed_resource(
                stack,
                KIND,
                subnet.subnet_id().unwrap_or_default(),
                subnet.tags(),
                attributes,
                status,
            )
        })
        .collect())
}

/// Delete the subnet; `Ok(false)` while network interfaces are still in it.
async fn delete(aws: &Aws, subnet: &str) -> Result<bool, AwsError> {
    deleted(
        aws.ec2.delete_subnet().subnet_id(subnet).send().await,
        format!("delete subnet {subnet}"),
        &["InvalidSubnetID.NotFound"],
        &["DependencyViolation"],
    )
}
