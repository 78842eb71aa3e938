//! An endpoint of the VPC deployer creates: the S3 gateway endpoint (free), so that the private
//! subnets reach Amazon Linux's package repositories and S3 without the NAT gateways'
//! per-gigabyte charge; and the interface endpoints the profile lists (`endpoints`), in the
//! private subnets with private DNS on, so that the nodes reach those AWS APIs without a NAT.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{ResourceType, VpcEndpointType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource, Status};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext, names_in, vpc};
use crate::aws::ec2::{
    client_token, made_before, observed_resource, scanned, stack_filter, tag_specification,
};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("vpc-endpoint", "VPC endpoint");

pub const VPC: &str = "vpc";
/// The service, by the last part of its name (`s3` of `com.amazonaws.us-east-1.s3`).
pub const SERVICE: &str = "service";
pub const ROUTE_TABLES: &str = "route_tables";
/// `Gateway` or `Interface`.
pub const TYPE: &str = "type";
pub const SUBNETS: &str = "subnets";
pub const SECURITY_GROUPS: &str = "security_groups";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The VPC (a reference).
    pub vpc: String,
    /// `s3`.
    pub service: String,
    /// A gateway endpoint's route tables, which it adds its routes to (references).
    #[serde(default)]
    pub route_tables: Vec<String>,
    /// An interface endpoint (private DNS on) rather than a gateway one.
    #[serde(default)]
    pub interface: bool,
    /// An interface endpoint's subnets, one per zone (references).
    #[serde(default)]
    pub subnets: Vec<String>,
    /// An interface endpoint's security groups (by name).
    #[serde(default)]
    pub security_groups: Vec<String>,
}

impl Spec {
    fn kind(&self) -> &'static str {
        if self.interface {
            "Interface"
        } else {
            "Gateway"
        }
    }
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct VpcEndpoints;

impl ResourceKind for VpcEndpoints {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About::new("VPC endpoint (gateway or interface)")
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeVpcEndpoints",
            "ec2:CreateVpcEndpoint",
            "ec2:CreateTags",
            "ec2:ModifyVpcEndpoint",
            "ec2:DeleteVpcEndpoints",
            // Implicit: an interface endpoint with private DNS associates the VPC with the
            // service's private hosted zone, which EC2 checks against the caller.
            "route53:AssociateVPCWithHostedZone",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        spec: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        let attributes = Attributes::new()
            .set(VPC, spec.vpc.as_str(), Mode::Replace)
            .set(SERVICE, spec.service.as_str(), Mode::Replace)
            .set(TYPE, spec.kind(), Mode::Replace);
        if spec.interface {
            attributes
                .set(SUBNETS, sorted(spec.subnets.clone()), Mode::InPlace)
                .set(
                    SECURITY_GROUPS,
                    sorted(spec.security_groups.clone()),
                    Mode::Replace,
                )
                .build()
        } else {
            attributes
                .set(
                    ROUTE_TABLES,
                    sorted(spec.route_tables.clone()),
                    Mode::InPlace,
                )
                .build()
        }
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let mut uses = names_in(live, VPC, vpc::KIND, observed);
        uses.extend(names_in(
            live,
            ROUTE_TABLES,
            super::route_table::KIND,
            observed,
        ));
        uses.extend(names_in(live, SUBNETS, super::subnet::KIND, observed));
        uses.extend(names_in(
            live,
            SECURITY_GROUPS,
            super::security_group::KIND,
            observed,
        ));
        uses
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        describe(scope.aws, scope.names.stack()).await
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        Ok(scanned(
            "VPC endpoint",
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
        let endpoint = match made_before(describe(aws, context.stack()).await?, context.id) {
            Some(endpoint) => endpoint,
            None => {
                let request = aws
                    .ec2
                    .create_vpc_endpoint()
                    .vpc_id(&spec.vpc)
                    .service_name(service_name(&aws.region, &spec.service))
                    .client_token(client_token(name))
                    .tag_specifications(tag_specification(
                        ResourceType::VpcEndpoint,
                        &context.tags,
                    ));
                let request = if spec.interface {
                    request
                        .vpc_endpoint_type(VpcEndpointType::Interface)
                        .set_subnet_ids(Some(spec.subnets.clone()))
                        .set_security_group_ids(Some(spec.security_groups.clone()))
                        .private_dns_enabled(true)
                } else {
                    request
                        .vpc_endpoint_type(VpcEndpointType::Gateway)
                        .set_route_table_ids(Some(spec.route_tables.clone()))
                };
                request
                    .send()
                    .await
                    .map_err(fail(format!("create VPC endpoint {name}")))?
                    .vpc_endpoint()
                    .and_then(|e| e.vpc_endpoint_id())
                    .unwrap_or_default()
                    .to_string()
            }
        };
        context.until_ready().await?;
        Ok(Live::named(endpoint))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        _resource: &Resource,
        spec: &Spec,
        _changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let endpoint = &live.physical_id;
        let found = aws
            .ec2
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(endpoint)
            .send()
            .await
            .map_err(fail(format!("describe VPC endpoint {endpoint}")))?;
        // A gateway endpoint's route tables, or an interface endpoint's subnets.
        let (current, wanted): (BTreeSet<String>, &[String]) = match found.vpc_endpoints().first() {
            Some(e) if spec.interface => (e.subnet_ids().iter().cloned().collect(), &spec.subnets),
            Some(e) => (
                e.route_table_ids().iter().cloned().collect(),
                &spec.route_tables,
            ),
            None => (BTreeSet::new(), &[]),
        };
        let wanted: BTreeSet<String> = wanted.iter().cloned().collect();
        let add: Vec<String> = wanted.difference(&current).cloned().collect();
        let remove: Vec<String> = current.difference(&wanted).cloned().collect();
        if !add.is_empty() || !remove.is_empty() {
            let (add, remove) = (
                (!add.is_empty()).then_some(add),
                (!remove.is_empty()).then_some(remove),
            );
            let request = aws.ec2.modify_vpc_endpoint().vpc_endpoint_id(endpoint);
            let request = if spec.interface {
                request
                    .set_add_subnet_ids(add)
                    .set_remove_subnet_ids(remove)
            } else {
                request
                    .set_add_route_table_ids(add)
                    .set_remove_route_table_ids(remove)
            };
            request
                .send()
                .await
                .map_err(fail(format!("update VPC endpoint {endpoint}")))?;
        }
        Ok(live)
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let Some(live) = live else {
            return Ok(());
        };
        let endpoint = &live.physical_id;
        let answer = context
            .aws()
            .ec2
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(endpoint)
            .send()
            .await
            .map_err(fail(format!("delete VPC endpoint {endpoint}")))?;
        // The call answers for each endpoint; one already gone is not a failure.
        if let Some(problem) = answer
            .unsuccessful()
            .iter()
            .filter_map(|u| u.error())
            .find(|e| e.code() != Some("InvalidVpcEndpoint.NotFound"))
        {
            return Err(AwsError::other(
                format!("delete VPC endpoint {endpoint}"),
                format!(
                    "{}: {}",
                    problem.code().unwrap_or("error"),
                    problem.message().unwrap_or_default()
                ),
            ));
        }
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
        error.is("InvalidVpcEndpointId.NotFound")
    }
}

/// `com.amazonaws.<region>.<service>`.
fn service_name(region: &str, service: &str) -> String {
    format!("com.amazonaws.{region}.{service}")
}

/// The stack's VPC endpoints (by its tag), those deleted left out.
async fn describe(aws: &Aws, stack: &str) -> Result<Vec<ObservedResource>, AwsError> {
    let found = crate::aws::every_item!(
        aws.ec2
            .describe_vpc_endpoints()
            .filters(stack_filter(stack)),
        "describe the stack's VPC endpoints"
    )?;
    Ok(found
        .iter()
        .filter_map(|endpoint| {
            // EC2 answers the state in lower case ("available"), which the SDK's enum (spelled
            // "Available") does not match: compared as text.
            let state = endpoint
                .state()
                .map(|s| s.as_str().to_ascii_lowercase())
                .unwrap_or_default();
            let status = match state.as_str() {
                "deleted" => return None,
                "pending" | "pendingacceptance" => Status::Pending(state.clone()),
                "deleting" => Status::Deleting(state.clone()),
                "failed" | "rejected" | "expired" => Status::Failed(state.clone()),
                _ => Status::Ready,
            };
            let mut attributes = Map::new();
            attributes.insert(VPC.into(), json!(endpoint.vpc_id().unwrap_or_default()));
            attributes.insert(
                SERVICE.into(),
                json!(
                    endpoint
                        .service_name()
                        .and_then(|s| s.rsplit('.').next())
                        .unwrap_or_default()
                ),
            );
            let interface = endpoint
                .vpc_endpoint_type()
                .is_some_and(|t| t.as_str().eq_ignore_ascii_case("interface"));
            attributes.insert(
                TYPE.into(),
                json!(if interface { "Interface" } else { "Gateway" }),
            );
            if interface {
                attributes.insert(
                    SUBNETS.into(),
                    sorted(endpoint.subnet_ids().iter().cloned()),
                );
                attributes.insert(
                    SECURITY_GROUPS.into(),
                    sorted(
                        endpoint
                            .groups()
                            .iter()
                            .filter_map(|g| g.group_id().map(str::to_string)),
                    ),
                );
            } else {
                attributes.insert(
                    ROUTE_TABLES.into(),
                    sorted(endpoint.route_table_ids().iter().cloned()),
                );
            }
            observed_resource(
                stack,
                KIND,
                endpoint.vpc_endpoint_id().unwrap_or_default(),
                endpoint.tags(),
                attributes,
                status,
            )
        })
        .collect())
}
