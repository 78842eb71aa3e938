//! A NAT gateway of the VPC deployer creates: in a public subnet, with an elastic IP, the private
//! subnets' way out (Secrets Manager, SSM, CloudWatch, package mirrors) without a public IP on
//! any node. One per zone by default, or one for all (`nat = "single"`).

use std::time::Duration;

use aws_sdk_ec2::types::{NatGatewayState, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Mode};
use super::observed::{Observed, ObservedResource, Status};
use super::{
    About, Known, Live, Resource, ResourceKind, Scope, StepContext, elastic_ip, names_in, subnet,
};
use crate::aws::ec2::{
    client_token, deleted, observed_resource, scanned, stack_filter, tag_specification,
};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("nat-gateway", "NAT gateway");

pub const SUBNET: &str = "subnet";
pub const ELASTIC_IP: &str = "elastic_ip";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The public subnet it sits in (a reference).
    pub subnet: String,
    /// Its elastic IP's allocation (a reference).
    pub elastic_ip: String,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct NatGateways;

impl ResourceKind for NatGateways {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            shown_by_name: true,
            wait_limit: Duration::from_secs(15 * 60),
            ..About::new("EC2 NAT gateway")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeNatGateways",
            "ec2:CreateNatGateway",
            "ec2:CreateTags",
            "ec2:DeleteNatGateway",
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
            .set(SUBNET, spec.subnet.as_str(), Mode::Replace)
            .set(ELASTIC_IP, spec.elastic_ip.as_str(), Mode::Replace)
            .build()
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let mut uses = names_in(live, SUBNET, subnet::KIND, observed);
        uses.extend(names_in(live, ELASTIC_IP, elastic_ip::KIND, observed));
        // A public NAT gateway works through the VPC's internet gateway, which EC2 does not
        // detach while the gateway's address is mapped.
        uses.extend(
            observed
                .resources
                .iter()
                .filter(|r| r.id.kind == super::internet_gateway::KIND)
                .map(|r| r.id.clone()),
        );
        uses
    }

    /// A failed gateway is left out: AWS deletes it on its own, and plan creates another.
    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        Ok(describe(scope.aws, scope.names.stack())
            .await?
            .into_iter()
            .filter(|r| !matches!(r.status, Status::Failed(_)))
            .collect())
    }

    /// While waiting, a failed gateway ends the wait with AWS's reason.
    async fn observe_one(
        &self,
        scope: Scope<'_>,
        id: &ResourceId,
    ) -> Result<Option<ObservedResource>, AwsError> {
        let mut found: Vec<ObservedResource> = describe(scope.aws, scope.names.stack())
            .await?
            .into_iter()
            .filter(|r| &r.id == id)
            .collect();
        // The live one, else the newest failure.
        found.sort_by_key(|r| matches!(r.status, Status::Failed(_)));
        Ok(found.into_iter().next())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        Ok(scanned("NAT gateway", self.observe(scope).await?))
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let name = &resource.id.name;
        let existing = describe(aws, context.stack())
            .await?
            .into_iter()
            .find(|r| &r.id == context.id && !matches!(r.status, Status::Failed(_)));
        let gateway = match existing {
            Some(live) => live.physical_id,
            None => aws
                .ec2
                .create_nat_gateway()
                .subnet_id(&spec.subnet)
                .allocation_id(&spec.elastic_ip)
                .client_token(client_token(name))
                .tag_specifications(tag_specification(ResourceType::Natgateway, &context.tags))
                .send()
                .await
                .map_err(fail(format!("create NAT gateway {name}")))?
                .nat_gateway()
                .and_then(|g| g.nat_gateway_id())
                .unwrap_or_default()
                .to_string(),
        };
        (context.announce)(&gateway);
        // A minute or two on AWS; the routes through it wait for it.
        context.until_ready().await?;
        Ok(Live::named(gateway))
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let Some(live) = live else {
            return Ok(());
        };
        let gateway = &live.physical_id;
        deleted(
            context
                .aws()
                .ec2
                .delete_nat_gateway()
                .nat_gateway_id(gateway)
                .send()
                .await,
            format!("delete NAT gateway {gateway}"),
            &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"],
            &[],
        )?;
        // Its elastic IP is released only once it is gone.
        context.until_gone().await
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
        error.is("NatGatewayNotFound") || error.is("InvalidNatGatewayID.NotFound")
    }
}

/// The stack's NAT gateways (by its tag), but those deleted (AWS lists them for an hour).
async fn describe(aws: &Aws, stack: &str) -> Result<Vec<ObservedResource>, AwsError> {
    let found = crate::aws::every_item!(
        aws.ec2.describe_nat_gateways().filter(stack_filter(stack)),
        "describe the stack's NAT gateways"
    )?;
    Ok(found
        .iter()
        .filter_map(|gateway| {
            let status = match gateway.state()? {
                NatGatewayState::Deleted => return None,
                NatGatewayState::Failed => Status::Failed(format!(
                    "failed: {}",
                    gateway.failure_message().unwrap_or("no reason given")
                )),
                NatGatewayState::Pending => Status::Pending("pending".into()),
                NatGatewayState::Deleting => Status::Deleting("deleting".into()),
                _ => Status::Ready,
            };
            let mut attributes = Map::new();
            attributes.insert(
                SUBNET.into(),
                json!(gateway.subnet_id().unwrap_or_default()),
            );
            let allocation = gateway
                .nat_gateway_addresses()
                .iter()
                .find_map(|a| a.allocation_id())
                .unwrap_or_default();
            attributes.insert(ELASTIC_IP.into(), json!(allocation));
            observed_resource(
                stack,
                KIND,
                gateway.nat_gateway_id().unwrap_or_default(),
                gateway.tags(),
                attributes,
                status,
            )
        })
        .collect())
}
