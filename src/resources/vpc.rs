//! The VPC deployer creates and owns (`[network] vpc = "create"`): its address range, with DNS
//! host names on (interface endpoints with private DNS need them). Deleted last, once nothing
//! in it is left.

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Mode};
use super::observed::{ObservedResource, Status};
use super::quota::{Quota, QuotaUse};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext};
use crate::aws::ec2::{
    create_untokened, deleted, made_before, observed_resource, scanned, stack_filter,
    tag_specification, without_retries,
};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("vpc", "VPC");

pub const CIDR: &str = "cidr";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The VPC's IPv4 range, `10.0.0.0/16`.
    pub cidr: String,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct Vpcs;

impl ResourceKind for Vpcs {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            shown_by_name: true,
            // What was in it (load balancer and database interfaces) may take minutes to go.
            wait_limit: std::time::Duration::from_secs(30 * 60),
            ..About::new("EC2 VPC")
        }
    }

    fn quota_use(&self, _spec: &Spec) -> Vec<QuotaUse> {
        vec![QuotaUse::Count(Quota::Vpcs, 1)]
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeVpcs",
            "ec2:CreateVpc",
            "ec2:CreateTags",
            "ec2:ModifyVpcAttribute",
            "ec2:DeleteVpc",
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
            .set(CIDR, spec.cidr.as_str(), Mode::Replace)
            .build()
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        describe(scope.aws, scope.names.stack()).await
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        Ok(scanned(
            "VPC",
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
        let name = &resource.id.name;
        let vpc = match made_before(describe(aws, context.stack()).await?, context.id) {
            Some(vpc) => vpc,
            None => {
                create_untokened(
                    || async {
                        let created = aws
                            .ec2
                            .create_vpc()
                            .cidr_block(&spec.cidr)
                            .tag_specifications(tag_specification(ResourceType::Vpc, &context.tags))
                            .customize()
                            .config_override(without_retries())
                            .send()
                            .await
                            .map_err(fail(format!("create VPC {name}")))?;
                        Ok(created
                            .vpc()
                            .and_then(|v| v.vpc_id())
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
        (context.announce)(&vpc);
        context.until_ready().await?;
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .map_err(fail(format!("turn on DNS host names in VPC {name}")))?;
        Ok(Live::named(vpc))
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let Some(live) = live else {
            return Ok(());
        };
        let aws = context.aws();
        context
            .retry(
                "what is still in it (subnets, gateways, interfaces)",
                || delete(aws, &live.physical_id),
            )
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
        error.is("InvalidVpcID.NotFound")
    }
}

/// The stack's VPCs (by its tag).
pub async fn describe(aws: &Aws, stack: &str) -> Result<Vec<ObservedResource>, AwsError> {
    let found = crate::aws::every_item!(
        aws.ec2.describe_vpcs().filters(stack_filter(stack)),
        "describe the stack's VPCs"
    )?;
    Ok(found
        .iter()
        .filter_map(|vpc| {
            let mut attributes = Map::new();
            attributes.insert(CIDR.into(), json!(vpc.cidr_block().unwrap_or_default()));
            let status = match vpc.state().map(|s| s.as_str()) {
                Some("pending") => Status::Pending("pending".into()),
                _ => Status::Ready,
            };
            observed_resource(
                stack,
                KIND,
                vpc.vpc_id().unwrap_or_default(),
                vpc.tags(),
                attributes,
                status,
            )
        })
        .collect())
}

/// Delete the VPC; `Ok(false)` while something is still in it.
async fn delete(aws: &Aws, vpc: &str) -> Result<bool, AwsError> {
    deleted(
        aws.ec2.delete_vpc().vpc_id(vpc).send().await,
        format!("delete VPC {vpc}"),
        &["InvalidVpcID.NotFound"],
        &["DependencyViolation"],
    )
}
