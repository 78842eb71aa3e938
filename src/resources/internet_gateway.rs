//! The internet gateway of the VPC deployer creates: the public subnets' way in and out (the
//! load balancer's, and the NAT gateways' for the private subnets).

use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Mode};
use super::observed::{Observed, ObservedResource, Status};
use super::quota::{Quota, QuotaUse};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext, names_in, vpc};
use crate::aws::ec2::{
    create_untokened, deleted, made_before, observed_resource, scanned, stack_filter,
    tag_specification, without_retries,
};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("internet-gateway", "internet gateway");

/// The VPC it is attached to.
pub const VPC: &str = "vpc";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The VPC (a reference to the stack's).
    pub vpc: String,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct InternetGateways;

impl ResourceKind for InternetGateways {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            shown_by_name: true,
            ..About::new("EC2 internet gateway")
        }
    }

    fn quota_use(&self, _spec: &Spec) -> Vec<QuotaUse> {
        vec![QuotaUse::Count(Quota::InternetGateways, 1)]
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeInternetGateways",
            "ec2:CreateInternetGateway",
            "ec2:CreateTags",
            "ec2:AttachInternetGateway",
            "ec2:DetachInternetGateway",
            "ec2:DeleteInternetGateway",
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
            "internet gateway",
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
        let gateway = match made_before(describe(aws, context.stack()).await?, context.id) {
            Some(gateway) => gateway,
            None => {
                create_untokened(
                    || async {
                        let created = aws
                            .ec2
                            .create_internet_gateway()
                            .tag_specifications(tag_specification(
                                ResourceType::InternetGateway,
                                &context.tags,
                            ))
                            .customize()
                            .config_override(without_retries())
                            .send()
                            .await
                            .map_err(fail(format!("create internet gateway {name}")))?;
                        Ok(created
                            .internet_gateway()
                            .and_then(|g| g.internet_gateway_id())
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
        // One an earlier attempt made may be attached already: EC2 says so, and that is done.
        let attached = aws
            .ec2
            .attach_internet_gateway()
            .internet_gateway_id(&gateway)
            .vpc_id(&spec.vpc)
            .send()
            .await
            .map_err(fail(format!(
                "attach internet gateway {name} to {}",
                spec.vpc
            )));
        match attached {
            Err(error) if !error.is("Resource.AlreadyAssociated") => return Err(error),
            _ => {}
        }
        Ok(Live::named(gateway))
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let Some(live) = live else {
            return Ok(());
        };
        let aws = context.aws();
        let gateway = &live.physical_id;
        let vpc = describe(aws, context.stack())
            .await?
            .into_iter()
            .find(|r| &r.physical_id == gateway)
            .and_then(|r| r.attributes.get(VPC)?.as_str().map(str::to_string))
            .filter(|vpc| !vpc.is_empty());
        if let Some(vpc) = vpc {
            // EC2 refuses while an elastic IP (a NAT gateway's) is still mapped in the VPC.
            context
                .retry("the public addresses still mapped in the VPC", || {
                    detach(aws, gateway, &vpc)
                })
                .await?;
        }
        deleted(
            aws.ec2
                .delete_internet_gateway()
                .internet_gateway_id(gateway)
                .send()
                .await,
            format!("delete internet gateway {gateway}"),
            &["InvalidInternetGatewayID.NotFound"],
            &[],
        )
        .map(|_| ())
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
        error.is("InvalidInternetGatewayID.NotFound")
    }
}

/// The stack's internet gateways (by its tag), each with the VPC it is attached to.
async fn describe(aws: &Aws, stack: &str) -> Result<Vec<ObservedResource>, AwsError> {
    let found = crate::aws::every_item!(
        aws.ec2
            .describe_internet_gateways()
            .filters(stack_filter(stack)),
        "describe the stack's internet gateways"
    )?;
    Ok(found
        .iter()
        .filter_map(|gateway| {
            let vpc = gateway
                .attachments()
                .iter()
                .find_map(|a| a.vpc_id())
                .unwrap_or_default();
            let mut attributes = Map::new();
            attributes.insert(VPC.into(), json!(vpc));
            observed_resource(
                stack,
                KIND,
                gateway.internet_gateway_id().unwrap_or_default(),
                gateway.tags(),
                attributes,
                Status::Ready,
            )
        })
        .collect())
}

/// Detach the gateway; `Ok(false)` while public addresses are still mapped in the VPC.
async fn detach(aws: &Aws, gateway: &str, vpc: &str) -> Result<bool, AwsError> {
    deleted(
        aws.ec2
            .detach_internet_gateway()
            .internet_gateway_id(gateway)
            .vpc_id(vpc)
            .send()
            .await,
        format!("detach internet gateway {gateway} from {vpc}"),
        &[
            "Gateway.NotAttached",
            "InvalidInternetGatewayID.NotFound",
            "InvalidVpcID.NotFound",
        ],
        &["DependencyViolation"],
    )
}
