//! The network of a stack whose VPC deployer creates (`[network] vpc = "create"`): the VPC, a
//! public and a private subnet in each zone, the internet gateway, the NAT gateways (one per zone,
//! or one) with their elastic IPs, the route tables, and an S3 gateway endpoint. The other
//! resources name these by reference (`resources::reference`): their AWS ids are known only once
//! they exist.

use crate::aws::ec2::{Egress, Endpoints, Network, Subnet};
use crate::ids::names::{Names, Tier};
use crate::profile::schema::{self, Nat};
use crate::resources::route_table::Target;
use crate::resources::{
    Resource, elastic_ip, internet_gateway, nat_gateway, reference, route_table, security_group,
    subnet, vpc, vpc_endpoint,
};

/// `10.0.0.0/16` -> (the address as a number, 16).
pub fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (address, prefix) = cidr.split_once('/')?;
    let address: std::net::Ipv4Addr = address.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    (prefix <= 32).then_some((u32::from(address), prefix))
}

/// The network mask of a /`prefix`.
pub fn mask(prefix: u32) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

/// A zone's place among the sixteenths of the VPC's range: by its letter (`us-east-1c` -> 2), so
/// that a zone's subnets keep their ranges whichever other zones come and go; `position` (its
/// place among the stack's zones) for a name that does not end in a to h.
fn zone_index(zone: &str, position: usize) -> u32 {
    match zone.chars().last() {
        Some(letter @ 'a'..='h') => letter as u32 - 'a' as u32,
        _ => position as u32,
    }
}

/// The `index`th sixteenth of `cidr`: the public subnets take 0 to 7, the private ones 8 to 15.
pub fn subnet_cidr(cidr: &str, index: u32) -> String {
    let (base, prefix) = parse_cidr(cidr).unwrap_or((0x0a00_0000, 16));
    let size = 1u32 << (32 - (prefix + 4));
    let address = std::net::Ipv4Addr::from((base & mask(prefix)) + index * size);
    format!("{address}/{}", prefix + 4)
}

/// The zone whose NAT gateway serves `zone`'s private subnet: its own, the first zone's (one
/// for all), or none.
fn nat_zone<'a>(network: &schema::Network, zones: &'a [String], zone: &'a str) -> Option<&'a str> {
    match network.nat.unwrap_or_default() {
        Nat::PerZone => Some(zone),
        Nat::Single => zones.first().map(String::as_str),
        Nat::None => None,
    }
}

/// The network a stack's created VPC gives the other resources: the private subnets for the
/// nodes (and the data tier), the public ones for the load balancer, as references; `vpc_id` is
/// the VPC's id where it exists already (observation looks in it), else empty.
pub fn owned(
    names: &Names,
    network: &schema::Network,
    zones: &[String],
    vpc_id: String,
) -> Network {
    let subnets = |public: bool| -> Vec<Subnet> {
        zones
            .iter()
            .map(|zone| Subnet {
                id: reference(&subnet::id(names.subnet(public, zone))),
                zone: zone.clone(),
                egress: Some(if public {
                    Egress::InternetGateway(reference(&internet_gateway::id(
                        names.internet_gateway(),
                    )))
                } else {
                    match nat_zone(network, zones, zone) {
                        Some(nat) => {
                            Egress::Nat(reference(&nat_gateway::id(names.nat_gateway(nat))))
                        }
                        None => Egress::NoRoute,
                    }
                }),
            })
            .collect()
    };
    Network {
        vpc_id,
        subnets: subnets(false),
        load_balancer_subnets: subnets(true),
        data_subnets: Vec::new(),
        endpoints: Endpoints(
            std::iter::once("s3".to_string())
                .chain(network.endpoints.iter().flatten().cloned())
                .collect(),
        ),
    }
}

/// The network's resources, and those the nodes wait for (the private subnets' routes out and
/// the S3 endpoint): a node that boots before them reaches nothing.
pub fn resources(
    names: &Names,
    network: &schema::Network,
    zones: &[String],
) -> (Vec<Resource>, Vec<crate::ids::ResourceId>) {
    let cidr = network.cidr();
    let vpc_ref = reference(&vpc::id(names.vpc()));
    let mut resources = vec![Resource::new::<vpc::Vpcs>(
        names.vpc(),
        "vpc",
        &vpc::Spec {
            cidr: cidr.to_string(),
        },
    )];
    let igw = internet_gateway::id(names.internet_gateway());
    resources.push(Resource::new::<internet_gateway::InternetGateways>(
        names.internet_gateway(),
        "internet-gateway",
        &internet_gateway::Spec {
            vpc: vpc_ref.clone(),
        },
    ));
    let mut public_subnets = Vec::new();
    let mut private_subnets = Vec::new();
    for (i, zone) in zones.iter().enumerate() {
        for public in [true, false] {
            let index = zone_index(zone, i) + if public { 0 } else { 8 };
            let name = names.subnet(public, zone);
            resources.push(Resource::new::<subnet::Subnets>(
                &name,
                "subnet",
                &subnet::Spec {
                    vpc: vpc_ref.clone(),
                    cidr: subnet_cidr(cidr, index),
                    zone: zone.clone(),
                },
            ));
            let placed = reference(&subnet::id(name));
            if public {
                public_subnets.push(placed);
            } else {
                private_subnets.push(placed);
            }
        }
    }
    let public_table = names.route_table(true, None);
    resources.push(Resource::new::<route_table::RouteTables>(
        &public_table,
        "route-table",
        &route_table::Spec {
            vpc: vpc_ref.clone(),
            default_route: Some(Target::InternetGateway(reference(&igw))),
            subnets: public_subnets.clone(),
        },
    ));
    let mut nat_zones: Vec<&str> = zones
        .iter()
        .filter_map(|z| nat_zone(network, zones, z))
        .collect();
    nat_zones.dedup();
    for zone in &nat_zones {
        let name = names.nat_gateway(zone);
        resources.push(Resource::new::<elastic_ip::ElasticIps>(
            &name,
            "nat-elastic-ip",
            &elastic_ip::Spec {},
        ));
        let index = zones.iter().position(|z| z == zone).unwrap_or(0);
        resources.push(
            Resource::new::<nat_gateway::NatGateways>(
                &name,
                "nat-gateway",
                &nat_gateway::Spec {
                    subnet: public_subnets[index].clone(),
                    elastic_ip: reference(&elastic_ip::id(&name)),
                },
            )
            // A public NAT gateway needs the VPC's internet gateway attached.
            .needs([igw.clone()]),
        );
    }
    let mut private_tables = Vec::new();
    match network.nat.unwrap_or_default() {
        Nat::PerZone => {
            for (i, zone) in zones.iter().enumerate() {
                private_tables.push((
                    names.route_table(false, Some(zone)),
                    Some(names.nat_gateway(zone)),
                    vec![private_subnets[i].clone()],
                ));
            }
        }
        Nat::Single => private_tables.push((
            names.route_table(false, None),
            Some(names.nat_gateway(&zones[0])),
            private_subnets.clone(),
        )),
        // No way out: the table holds the S3 endpoint's route only.
        Nat::None => private_tables.push((
            names.route_table(false, None),
            None,
            private_subnets.clone(),
        )),
    }
    let mut ready = Vec::new();
    let mut table_refs = vec![reference(&route_table::id(&public_table))];
    for (table, nat, subnets) in private_tables {
        resources.push(Resource::new::<route_table::RouteTables>(
            &table,
            "route-table",
            &route_table::Spec {
                vpc: vpc_ref.clone(),
                default_route: nat.map(|nat| Target::NatGateway(reference(&nat_gateway::id(nat)))),
                subnets,
            },
        ));
        ready.push(route_table::id(&table));
        table_refs.push(reference(&route_table::id(&table)));
    }
    resources.push(Resource::new::<vpc_endpoint::VpcEndpoints>(
        names.s3_endpoint(),
        "vpc-endpoint",
        &vpc_endpoint::Spec {
            vpc: vpc_ref.clone(),
            service: "s3".into(),
            route_tables: table_refs,
            interface: false,
            subnets: Vec::new(),
            security_groups: Vec::new(),
        },
    ));
    ready.push(vpc_endpoint::id(names.s3_endpoint()));
    // Interface endpoints, in the private subnets, behind a group that lets the VPC in on 443.
    let services = network.endpoints.clone().unwrap_or_default();
    if !services.is_empty() {
        let group = names.security_group(Tier::Endpoints);
        resources.push(Resource::new::<security_group::SecurityGroups>(
            &group,
            "security-group-endpoints",
            &security_group::Spec {
                tier: Tier::Endpoints,
                vpc_id: vpc_ref.clone(),
                description: format!("deployer {}: VPC endpoints", names.stack()),
                ingress: vec![security_group::IngressRule {
                    from_port: 443,
                    to_port: 443,
                    source: security_group::Source::Cidr(cidr.to_string()),
                    description: "HTTPS from the VPC".into(),
                }],
            },
        ));
        for service in services {
            let name = names.interface_endpoint(&service);
            resources.push(
                Resource::new::<vpc_endpoint::VpcEndpoints>(
                    &name,
                    "vpc-endpoint",
                    &vpc_endpoint::Spec {
                        vpc: vpc_ref.clone(),
                        service,
                        route_tables: Vec::new(),
                        interface: true,
                        subnets: private_subnets.clone(),
                        security_groups: vec![group.clone()],
                    },
                )
                .needs([security_group::id(&group)]),
            );
            ready.push(vpc_endpoint::id(name));
        }
    }
    (resources, ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_subnet_takes_a_sixteenth_of_the_range() {
        assert_eq!(subnet_cidr("10.0.0.0/16", 0), "10.0.0.0/20");
        assert_eq!(subnet_cidr("10.0.0.0/16", 1), "10.0.16.0/20");
        assert_eq!(subnet_cidr("10.0.0.0/16", 8), "10.0.128.0/20");
        assert_eq!(subnet_cidr("10.0.0.0/16", 15), "10.0.240.0/20");
        assert_eq!(subnet_cidr("192.168.4.0/24", 9), "192.168.4.144/28");
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
        assert_eq!(parse_cidr("10.0.0/16"), None);
        // A zone keeps its ranges whichever zones the stack spans beside it.
        assert_eq!(zone_index("us-east-1a", 4), 0);
        assert_eq!(zone_index("us-east-1d", 1), 3);
        assert_eq!(zone_index("ap-northeast-1c", 0), 2);
        assert_eq!(zone_index("odd-zone-z", 5), 5);
    }

    #[test]
    fn one_nat_gateway_per_zone_or_one_for_all() {
        let names = Names::new("shop");
        let zones: Vec<String> = ["us-east-1a", "us-east-1b", "us-east-1c"]
            .map(String::from)
            .into();
        let count = |network: &schema::Network, kind| {
            resources(&names, network, &zones)
                .0
                .iter()
                .filter(|r| r.id.kind == kind)
                .count()
        };
        let per_zone = schema::Network {
            vpc: "create".into(),
            ..Default::default()
        };
        assert_eq!(count(&per_zone, nat_gateway::KIND), 3);
        assert_eq!(count(&per_zone, elastic_ip::KIND), 3);
        // The public table and one per zone.
        assert_eq!(count(&per_zone, route_table::KIND), 4);
        assert_eq!(count(&per_zone, subnet::KIND), 6);
        let single = schema::Network {
            nat: Some(Nat::Single),
            ..per_zone.clone()
        };
        assert_eq!(count(&single, nat_gateway::KIND), 1);
        assert_eq!(count(&single, elastic_ip::KIND), 1);
        assert_eq!(count(&single, route_table::KIND), 2);
        // No NAT gateway: one private table with no way out, and the interface endpoints the
        // profile lists, behind their own group.
        let none = schema::Network {
            nat: Some(Nat::None),
            endpoints: Some(vec!["secretsmanager".into(), "ssm".into()]),
            ..per_zone.clone()
        };
        assert_eq!(count(&none, nat_gateway::KIND), 0);
        assert_eq!(count(&none, elastic_ip::KIND), 0);
        assert_eq!(count(&none, route_table::KIND), 2);
        assert_eq!(count(&none, vpc_endpoint::KIND), 3);
        assert_eq!(count(&none, security_group::KIND), 1);
        let (all, _) = resources(&names, &none, &zones);
        let private = all
            .iter()
            .find(|r| r.id == route_table::id("shop-private"))
            .unwrap()
            .spec::<route_table::RouteTables>()
            .unwrap();
        assert_eq!(private.default_route, None);
        assert_eq!(private.subnets.len(), 3);
        let secrets = all
            .iter()
            .find(|r| r.id == vpc_endpoint::id("shop-secretsmanager"))
            .unwrap();
        let spec = secrets.spec::<vpc_endpoint::VpcEndpoints>().unwrap();
        assert!(spec.interface);
        assert_eq!(spec.subnets.len(), 3);
        assert!(
            secrets
                .depends_on
                .contains(&security_group::id("shop-endpoints"))
        );
        // Each private table routes through a NAT gateway and depends on it, so its subnets
        // have a way out before a node boots in them.
        let (all, ready) = resources(&names, &per_zone, &zones);
        let table = all
            .iter()
            .find(|r| r.id == route_table::id("shop-private-us-east-1b"))
            .unwrap();
        assert!(
            table
                .depends_on
                .contains(&nat_gateway::id("shop-nat-us-east-1b"))
        );
        assert!(
            table
                .depends_on
                .contains(&subnet::id("shop-private-us-east-1b"))
        );
        assert!(ready.contains(&table.id));
        let nat = all
            .iter()
            .find(|r| r.id == nat_gateway::id("shop-nat-us-east-1b"))
            .unwrap();
        assert!(
            nat.depends_on
                .contains(&subnet::id("shop-public-us-east-1b"))
        );
        assert!(nat.depends_on.contains(&internet_gateway::id("shop")));
    }
}
