//! A route table of the VPC deployer creates: the public subnets' sends 0.0.0.0/0 to the internet
//! gateway; each private subnet's (or, with one NAT gateway, all of theirs) to a NAT gateway.

use aws_sdk_ec2::types::{Filter, ResourceType, RouteTable};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource, Status};
use super::{
    About, Known, Live, Resource, ResourceKind, Scope, StepContext, internet_gateway, names_in,
    nat_gateway, subnet, vpc,
};
use crate::aws::ec2::{
    client_token, deleted, made_before, observed_resource, scanned, stack_filter, tag_specification,
};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("route-table", "route table");

pub const VPC: &str = "vpc";
/// Where 0.0.0.0/0 goes: the internet gateway or the NAT gateway.
pub const DEFAULT_ROUTE: &str = "default_route";
pub const SUBNETS: &str = "subnets";

const ANYWHERE: &str = "0.0.0.0/0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The VPC (a reference).
    pub vpc: String,
    /// Where 0.0.0.0/0 goes: a reference to the internet gateway or to a NAT gateway; None: nowhere
    /// (a private subnet of a VPC with no NAT gateway).
    pub default_route: Option<Target>,
    /// The subnets it routes (references).
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    InternetGateway(String),
    NatGateway(String),
}

impl Target {
    fn id(&self) -> &str {
        match self {
            Target::InternetGateway(id) | Target::NatGateway(id) => id,
        }
    }
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct RouteTables;

impl ResourceKind for RouteTables {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            shown_by_name: true,
            ..About::new("EC2 route table")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeRouteTables",
            "ec2:CreateRouteTable",
            "ec2:CreateTags",
            "ec2:CreateRoute",
            "ec2:ReplaceRoute",
            "ec2:DeleteRoute",
            "ec2:AssociateRouteTable",
            "ec2:ReplaceRouteTableAssociation",
            "ec2:DisassociateRouteTable",
            "ec2:DeleteRouteTable",
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
            .set(
                DEFAULT_ROUTE,
                spec.default_route.as_ref().map_or("", Target::id),
                Mode::InPlace,
            )
            .set(SUBNETS, sorted(spec.subnets.clone()), Mode::InPlace)
            .build()
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let mut uses = names_in(live, VPC, vpc::KIND, observed);
        uses.extend(names_in(live, SUBNETS, subnet::KIND, observed));
        uses.extend(names_in(
            live,
            DEFAULT_ROUTE,
            internet_gateway::KIND,
            observed,
        ));
        uses.extend(names_in(live, DEFAULT_ROUTE, nat_gateway::KIND, observed));
        uses
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let stack = scope.names.stack();
        Ok(describe(scope.aws, stack_filter(stack))
            .await?
            .iter()
            .filter_map(|table| observed(stack, table))
            .collect())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        Ok(scanned("route table", self.observe(scope).await?))
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let name = &resource.id.name;
        let existing = describe(aws, stack_filter(context.stack()))
            .await?
            .iter()
            .filter_map(|table| observed(context.stack(), table))
            .collect();
        let table = match made_before(existing, context.id) {
            Some(table) => table,
            None => aws
                .ec2
                .create_route_table()
                .vpc_id(&spec.vpc)
                .client_token(client_token(name))
                .tag_specifications(tag_specification(ResourceType::RouteTable, &context.tags))
                .send()
                .await
                .map_err(fail(format!("create route table {name}")))?
                .route_table()
                .and_then(|t| t.route_table_id())
                .unwrap_or_default()
                .to_string(),
        };
        (context.announce)(&table);
        reconcile(aws, &table, spec).await?;
        Ok(Live::named(table))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        _resource: &Resource,
        spec: &Spec,
        _changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        reconcile(context.aws(), &live.physical_id, spec).await?;
        Ok(live)
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let Some(live) = live else {
            return Ok(());
        };
        let aws = context.aws();
        let table = &live.physical_id;
        let Some(found) = one(aws, table).await? else {
            return Ok(());
        };
        for association in found
            .associations()
            .iter()
            .filter(|a| a.main() != Some(true))
        {
            if let Some(association) = association.route_table_association_id() {
                disassociate(aws, association).await?;
            }
        }
        context
            .retry("what still uses it", || async move {
                deleted(
                    aws.ec2
                        .delete_route_table()
                        .route_table_id(table)
                        .send()
                        .await,
                    format!("delete route table {table}"),
                    &["InvalidRouteTableID.NotFound"],
                    &["DependencyViolation"],
                )
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
        error.is("InvalidRouteTableID.NotFound")
            || error.is("InvalidNatGatewayID.NotFound")
            || error.is("InvalidGatewayID.NotFound")
    }
}

async fn describe(aws: &Aws, filter: Filter) -> Result<Vec<RouteTable>, AwsError> {
    crate::aws::every_item!(
        aws.ec2.describe_route_tables().filters(filter),
        "describe the stack's route tables"
    )
}

async fn one(aws: &Aws, table: &str) -> Result<Option<RouteTable>, AwsError> {
    match aws
        .ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
    {
        Ok(found) => Ok(found.route_tables().first().cloned()),
        Err(error) => {
            let error = fail(format!("describe route table {table}"))(error);
            if error.is("InvalidRouteTableID.NotFound") {
                Ok(None)
            } else {
                Err(error)
            }
        }
    }
}

/// Where the table sends 0.0.0.0/0 (a gateway's id), if anywhere.
fn default_route(table: &RouteTable) -> Option<String> {
    table
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some(ANYWHERE))
        .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
        .map(str::to_string)
}

/// The subnets associated with the table: (subnet, association).
fn associations(table: &RouteTable) -> Vec<(String, String)> {
    table
        .associations()
        .iter()
        .filter(|a| a.main() != Some(true))
        .filter_map(|a| {
            Some((
                a.subnet_id()?.to_string(),
                a.route_table_association_id()?.to_string(),
            ))
        })
        .collect()
}

fn observed(stack: &str, table: &RouteTable) -> Option<ObservedResource> {
    let mut attributes = Map::new();
    attributes.insert(VPC.into(), json!(table.vpc_id().unwrap_or_default()));
    attributes.insert(
        DEFAULT_ROUTE.into(),
        json!(default_route(table).unwrap_or_default()),
    );
    attributes.insert(
        SUBNETS.into(),
        sorted(associations(table).into_iter().map(|(subnet, _)| subnet)),
    );
    observed_resource(
        stack,
        KIND,
        table.route_table_id().unwrap_or_default(),
        table.tags(),
        attributes,
        Status::Ready,
    )
}

/// Make the table's default route and subnets those of `spec` (ids resolved).
async fn reconcile(aws: &Aws, table: &str, spec: &Spec) -> Result<(), AwsError> {
    let Some(found) = one(aws, table).await? else {
        return Err(AwsError::not_visible_yet(
            format!("configure route table {table}"),
            "EC2 does not list it yet",
        ));
    };
    let target = spec.default_route.as_ref().map_or("", Target::id);
    match (default_route(&found), &spec.default_route) {
        (Some(current), None) => {
            aws.ec2
                .delete_route()
                .route_table_id(table)
                .destination_cidr_block(ANYWHERE)
                .send()
                .await
                .map_err(fail(format!(
                    "remove route 0.0.0.0/0 (to {current}) of route table {table}"
                )))?;
        }
        (None, None) => {}
        (current, Some(wanted)) => set_default_route(aws, table, current, target, wanted).await?,
    }
    let current = associations(&found);
    for (subnet, association) in &current {
        if !spec.subnets.contains(subnet) {
            disassociate(aws, association).await?;
        }
    }
    for subnet in &spec.subnets {
        if !current.iter().any(|(s, _)| s == subnet) {
            associate(aws, table, subnet).await?;
        }
    }
    Ok(())
}

/// Route `subnet` through `table`, taking it from the table it is associated with, if any.
async fn associate(aws: &Aws, table: &str, subnet: &str) -> Result<(), AwsError> {
    let what = format!("associate subnet {subnet} with route table {table}");
    match aws
        .ec2
        .associate_route_table()
        .route_table_id(table)
        .subnet_id(subnet)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(what.clone())(error);
            if !error.is("Resource.AlreadyAssociated") {
                return Err(error);
            }
            let held = describe(
                aws,
                Filter::builder()
                    .name("association.subnet-id")
                    .values(subnet)
                    .build(),
            )
            .await?;
            let Some(association) = held
                .iter()
                .flat_map(associations)
                .find_map(|(s, a)| (s == subnet).then_some(a))
            else {
                return Err(error);
            };
            aws.ec2
                .replace_route_table_association()
                .association_id(association)
                .route_table_id(table)
                .send()
                .await
                .map(|_| ())
                .map_err(fail(what))
        }
    }
}

async fn disassociate(aws: &Aws, association: &str) -> Result<(), AwsError> {
    match aws
        .ec2
        .disassociate_route_table()
        .association_id(association)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!(
                "disassociate route table association {association}"
            ))(error);
            if error.is("InvalidAssociationID.NotFound") {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}

/// Send 0.0.0.0/0 of `table` to `wanted` (whose id is `target`): replace the route where there is
/// one (`current`), else create it.
async fn set_default_route(
    aws: &Aws,
    table: &str,
    current: Option<String>,
    target: &str,
    wanted: &Target,
) -> Result<(), AwsError> {
    if current.as_deref() == Some(target) {
        return Ok(());
    }
    let what = format!("route 0.0.0.0/0 of route table {table} to {target}");
    if current.is_some() {
        let request = aws
            .ec2
            .replace_route()
            .route_table_id(table)
            .destination_cidr_block(ANYWHERE);
        match wanted {
            Target::InternetGateway(gateway) => request.gateway_id(gateway),
            Target::NatGateway(gateway) => request.nat_gateway_id(gateway),
        }
        .send()
        .await
        .map(|_| ())
        .map_err(fail(what))
    } else {
        let request = aws
            .ec2
            .create_route()
            .route_table_id(table)
            .destination_cidr_block(ANYWHERE);
        match wanted {
            Target::InternetGateway(gateway) => request.gateway_id(gateway),
            Target::NatGateway(gateway) => request.nat_gateway_id(gateway),
        }
        .send()
        .await
        .map(|_| ())
        .map_err(fail(what))
    }
}
