//! An elastic IP of the VPC deployer creates: a NAT gateway's public address. Released once its
//! NAT gateway is gone (AWS refuses until then, and for a while after).

use std::time::Duration;

use aws_sdk_ec2::types::{DomainType, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::observed::{ObservedResource, Status};
use super::quota::{Quota, QuotaUse};
use super::{About, Live, Resource, ResourceKind, Scope, StepContext};
use crate::aws::ec2::{
    create_untokened, deleted, made_before, observed_resource, scanned, stack_filter,
    tag_specification, without_retries,
};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("elastic-ip", "elastic IP");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct ElasticIps;

impl ResourceKind for ElasticIps {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            shown_by_name: true,
            wait_limit: Duration::from_secs(10 * 60),
            ..About::new("EC2 elastic IP address")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeAddresses",
            "ec2:AllocateAddress",
            "ec2:CreateTags",
            "ec2:ReleaseAddress",
        ]
    }

    fn quota_use(&self, _spec: &Spec) -> Vec<QuotaUse> {
        vec![QuotaUse::Count(Quota::ElasticIps, 1)]
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        describe(scope.aws, scope.names.stack()).await
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        Ok(scanned(
            "elastic IP",
            describe(scope.aws, scope.names.stack()).await?,
        ))
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        _spec: &Spec,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        if let Some(allocation) = made_before(describe(aws, context.stack()).await?, context.id) {
            return Ok(Live::named(allocation));
        }
        let allocation = create_untokened(
            || async {
                let allocated = aws
                    .ec2
                    .allocate_address()
                    .domain(DomainType::Vpc)
                    .tag_specifications(tag_specification(ResourceType::ElasticIp, &context.tags))
                    .customize()
                    .config_override(without_retries())
                    .send()
                    .await
                    .map_err(fail(format!("allocate elastic IP {}", resource.id.name)))?;
                Ok(allocated.allocation_id().unwrap_or_default().to_string())
            },
            || async {
                Ok(made_before(
                    describe(aws, context.stack()).await?,
                    context.id,
                ))
            },
        )
        .await?;
        Ok(Live::named(allocation))
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let Some(live) = live else {
            return Ok(());
        };
        let aws = context.aws();
        context
            .retry("the NAT gateway that held it to let it go", || {
                release(aws, &live.physical_id)
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
        error.is("InvalidAllocationID.NotFound")
    }
}

/// The stack's elastic IPs (by its tag), by allocation id.
async fn describe(aws: &Aws, stack: &str) -> Result<Vec<ObservedResource>, AwsError> {
    let found = aws
        .ec2
        .describe_addresses()
        .filters(stack_filter(stack))
        .send()
        .await
        .map_err(fail("describe the stack's elastic IPs"))?;
    Ok(found
        .addresses()
        .iter()
        .filter_map(|address| {
            observed_resource(
                stack,
                KIND,
                address.allocation_id().unwrap_or_default(),
                address.tags(),
                Map::new(),
                Status::Ready,
            )
        })
        .collect())
}

/// Release the address; `Ok(false)` while AWS still holds it for a NAT gateway being deleted. EC2
/// answers that with InvalidIPAddress.InUse, with AuthFailure, and just after the gateway is
/// gone with InvalidNetworkInterfaceID.NotFound (terraform-provider-aws#49299); each passes.
async fn release(aws: &Aws, allocation: &str) -> Result<bool, AwsError> {
    deleted(
        aws.ec2
            .release_address()
            .allocation_id(allocation)
            .send()
            .await,
        format!("release elastic IP {allocation}"),
        &["InvalidAllocationID.NotFound"],
        &[
            "InvalidIPAddress.InUse",
            "AuthFailure",
            "InvalidNetworkInterfaceID.NotFound",
        ],
    )
}
