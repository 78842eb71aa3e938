//! The network a stack lives in: what the VPC's route tables say, and an existing VPC whose load
//! balancer and nodes have subnets of their own (public ones in front, private ones with a NAT
//! route behind), checked by plan and used by apply.

use crate::check::group;
use crate::harness::{Clients, Project, clients};
use crate::safety::SMALL;

async fn create_vpc(aws: &Clients, cidr: &str) -> String {
    aws.ec2
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string()
}

async fn create_subnet(aws: &Clients, vpc: &str, cidr: &str, zone: &str) -> String {
    aws.ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(zone)
        .send()
        .await
        .unwrap()
        .subnet()
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_string()
}

/// An internet gateway attached to `vpc`.
async fn internet_gateway(aws: &Clients, vpc: &str) -> String {
    let igw = aws
        .ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap()
        .to_string();
    aws.ec2
        .attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap();
    igw
}

/// A NAT gateway in `subnet`, with an elastic IP of its own.
async fn nat_gateway(aws: &Clients, subnet: &str) -> String {
    let eip = aws
        .ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap()
        .allocation_id()
        .unwrap()
        .to_string();
    aws.ec2
        .create_nat_gateway()
        .subnet_id(subnet)
        .allocation_id(eip)
        .send()
        .await
        .unwrap()
        .nat_gateway()
        .unwrap()
        .nat_gateway_id()
        .unwrap()
        .to_string()
}

/// Where a route table sends 0.0.0.0/0.
enum Target<'a> {
    Gateway(&'a str),
    Nat(&'a str),
}

/// A route table of `vpc` sending 0.0.0.0/0 to `target`, associated with `subnets`.
async fn route_table(aws: &Clients, vpc: &str, target: Target<'_>, subnets: &[&str]) {
    let table = aws
        .ec2
        .create_route_table()
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    let route = aws
        .ec2
        .create_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0");
    match target {
        Target::Gateway(igw) => route.gateway_id(igw),
        Target::Nat(nat) => route.nat_gateway_id(nat),
    }
    .send()
    .await
    .unwrap();
    for subnet in subnets {
        aws.ec2
            .associate_route_table()
            .route_table_id(&table)
            .subnet_id(*subnet)
            .send()
            .await
            .unwrap();
    }
}

/// A VPC made for a test: an internet gateway, a public subnet (0.0.0.0/0 to the gateway) and a
/// private one (0.0.0.0/0 to a NAT gateway in the public subnet of its zone) in each zone.
struct TestVpc {
    id: String,
    public: Vec<String>,
    private: Vec<String>,
}

async fn test_vpc(aws: &Clients, second_octet: u8, zones: &[&str]) -> TestVpc {
    let id = create_vpc(aws, &format!("10.{second_octet}.0.0/16")).await;
    let igw = internet_gateway(aws, &id).await;
    let (mut public, mut private) = (Vec::new(), Vec::new());
    for (i, zone) in zones.iter().enumerate() {
        let front = create_subnet(aws, &id, &format!("10.{second_octet}.{i}.0/24"), zone).await;
        let nat = nat_gateway(aws, &front).await;
        let back = create_subnet(
            aws,
            &id,
            &format!("10.{second_octet}.{}.0/24", 100 + i),
            zone,
        )
        .await;
        route_table(aws, &id, Target::Nat(&nat), &[&back]).await;
        public.push(front);
        private.push(back);
    }
    let fronts: Vec<&str> = public.iter().map(String::as_str).collect();
    route_table(aws, &id, Target::Gateway(&igw), &fronts).await;
    TestVpc {
        id,
        public,
        private,
    }
}

fn quoted(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("\"{id}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An existing VPC with public and private subnets: plan refuses the nodes in the public subnets
/// and the internet-facing load balancer in the private ones, and nodes in a zone the load
/// balancer is not in; the right lists deploy the load balancer in the public subnets and the
/// nodes, the database and the cache in the private ones, and plan after apply is empty.
#[tokio::test(flavor = "multi_thread")]
async fn an_existing_vpc_with_separate_subnets_deploys_each_tier_in_its_own() {
    let aws = clients().await;
    let vpc = test_vpc(&aws, 78, &["us-east-1a", "us-east-1b", "us-east-1c"]).await;
    let network = |front: &[String], back: &[String]| {
        format!(
            "[network]\nvpc = \"{}\"\nload_balancer_subnets = [{}]\nnode_subnets = [{}]\n",
            vpc.id,
            quoted(front),
            quoted(back)
        )
    };
    let project = Project::new("tiers", &network(&vpc.private[..2], &vpc.public[..2]));

    // The lists swapped: both tiers are refused at their keys, nothing is created.
    let refused = project.run(&["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    for expected in [
        "network.node_subnets: the nodes get no public IP, and none of the nodes' 2 subnets gives them a way out of the VPC",
        "[network.no-egress]",
        "network.load_balancer_subnets: the internet-facing load balancer is placed in subnets that do not route to an internet gateway",
        "[network.load-balancer-not-public]",
    ] {
        assert!(
            refused.stderr.contains(expected),
            "{expected}\n{}",
            refused.stderr
        );
    }

    // Nodes in us-east-1c, where the load balancer has no subnet.
    project.write_profile(&network(&vpc.public[..2], &vpc.private));
    let refused = project.run(&["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains(&format!(
            "network.node_subnets[2]: subnet {} is in us-east-1c, where the load balancer has no subnet",
            vpc.private[2]
        )) && refused.stderr.contains("[network.zone-not-balanced]"),
        "{}",
        refused.stderr
    );

    // The right lists: each tier where it belongs, no network warning.
    project.write_profile(&network(&vpc.public, &vpc.private));
    let applied = project.run(&["apply", "--yes"]).ok();
    assert!(!applied.stderr.contains("[network."), "{}", applied.stderr);
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    let balancer = aws
        .elb
        .describe_load_balancers()
        .load_balancer_names(format!("{}-lb", project.stack))
        .send()
        .await
        .unwrap();
    let balancer = &balancer.load_balancer_descriptions()[0];
    assert_eq!(
        sorted(balancer.subnets().to_vec()),
        sorted(vpc.public.clone())
    );
    let nodes = group(&aws, &project.stack).await;
    assert_eq!(
        sorted(
            nodes
                .vpc_zone_identifier()
                .unwrap()
                .split(',')
                .map(str::to_string)
                .collect()
        ),
        sorted(vpc.private.clone())
    );
    let database = aws
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(format!("{}-db", project.stack))
        .send()
        .await
        .unwrap();
    let database: Vec<String> = database.db_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_string))
        .collect();
    assert_eq!(sorted(database), sorted(vpc.private.clone()));
    let cache = aws
        .elasticache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name(format!("{}-cache", project.stack))
        .send()
        .await
        .unwrap();
    let cache: Vec<String> = cache.cache_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_string))
        .collect();
    assert_eq!(sorted(cache), sorted(vpc.private.clone()));

    let again = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.all());
    project.run(&["destroy", "--yes"]).ok();
}

/// What the VPC's route tables say decides where the nodes can reach and where a bake's builder
/// goes: in a VPC with a public subnet (0.0.0.0/0 to an internet gateway) and a private one (to a
/// NAT gateway), plan warns of the nodes in the public one and of the internet-facing balancer
/// in the private one, and puts the builder in the private subnet without a public IP; in one
/// of public subnets only, the builder gets a public IP; a VPC with no way out is refused.
#[tokio::test(flavor = "multi_thread")]
async fn the_route_tables_decide_the_warnings_and_where_the_builder_goes() {
    let aws = clients().await;
    let vpc = create_vpc(&aws, "10.77.0.0/16").await;
    let public = create_subnet(&aws, &vpc, "10.77.1.0/24", "us-east-1a").await;
    let private = create_subnet(&aws, &vpc, "10.77.2.0/24", "us-east-1b").await;
    let project = Project::standalone(
        "routes",
        &format!(
            "{SMALL}\n[node.bake]\nbase_image = \"ami-760aaa0f\"\n[network]\nvpc = \"{vpc}\"\n"
        )
        .replace("image = \"ami-760aaa0f\"\ninstance_type", "instance_type"),
    );
    // No route anywhere, no S3 endpoint: a bake could fetch nothing.
    let refused = project.run(&["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("node.bake: no subnet of the stack routes 0.0.0.0/0 anywhere, and the VPC has no S3 gateway endpoint")
            && refused.stderr.contains("[network.builder-no-internet]"),
        "{}",
        refused.stderr
    );

    // An internet gateway for the public subnet, a NAT gateway in it for the private one.
    let igw = internet_gateway(&aws, &vpc).await;
    route_table(&aws, &vpc, Target::Gateway(&igw), &[&public]).await;
    // Only public subnets: the builder goes in the first, with a public IP asked for.
    let out = project.path().join("public.plan");
    let planned = project.run(&["plan", "--out", out.to_str().unwrap()]);
    assert_eq!(planned.code, 0, "{}", planned.all());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let builder = |saved: &serde_json::Value| {
        saved["desired"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"]["kind"] == "image")
            .map(|r| (r["spec"]["subnet"].clone(), r["spec"]["public_ip"].clone()))
            .unwrap()
    };
    assert_eq!(
        builder(&saved),
        (serde_json::json!(public), serde_json::json!(true))
    );

    let nat = nat_gateway(&aws, &public).await;
    route_table(&aws, &vpc, Target::Nat(&nat), &[&private]).await;
    let out = project.path().join("private.plan");
    let planned = project.run(&["plan", "--out", out.to_str().unwrap()]);
    assert_eq!(planned.code, 0, "{}", planned.all());
    for expected in [
        format!(
            "network.vpc: the nodes get no public IP, and 1 of the stack's 2 subnets give them no way out of the VPC (to internet gateway {igw}: {public}) (subnets they share with the internet-facing load balancer)"
        ),
        "[network.no-egress]".to_string(),
        format!(
            "load_balancer.scheme: the internet-facing load balancer is placed in subnets that do not route to an internet gateway: {private}"
        ),
        "[network.load-balancer-not-public]".to_string(),
    ] {
        assert!(
            planned.stderr.contains(&expected),
            "{expected}\n{}",
            planned.stderr
        );
    }
    // The builder goes where it gets out without a public IP.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        builder(&saved),
        (serde_json::json!(private), serde_json::json!(false))
    );
}

/// The route table a subnet is associated with sends 0.0.0.0/0 to: `igw-...` or `nat-...`.
async fn default_route_of(aws: &Clients, subnet: &str) -> String {
    let tables = aws
        .ec2
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("association.subnet-id")
                .values(subnet)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let table = &tables.route_tables()[0];
    table
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
        .unwrap_or_default()
        .to_string()
}

/// What is left tagged for `stack` of the network deployer creates: VPCs, subnets, NAT gateways
/// not deleted, elastic IPs.
async fn network_left(aws: &Clients, stack: &str) -> Vec<String> {
    let tagged = || {
        aws_sdk_ec2::types::Filter::builder()
            .name("tag:deployer:stack")
            .values(stack)
            .build()
    };
    let mut left = Vec::new();
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .filters(tagged())
        .send()
        .await
        .unwrap();
    left.extend(vpcs.vpcs().iter().map(|v| v.vpc_id().unwrap().to_string()));
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(tagged())
        .send()
        .await
        .unwrap();
    left.extend(
        subnets
            .subnets()
            .iter()
            .map(|s| s.subnet_id().unwrap().to_string()),
    );
    let nats = aws
        .ec2
        .describe_nat_gateways()
        .filter(tagged())
        .send()
        .await
        .unwrap();
    left.extend(
        nats.nat_gateways()
            .iter()
            .filter(|n| n.state().is_some_and(|s| s.as_str() != "deleted"))
            .map(|n| n.nat_gateway_id().unwrap().to_string()),
    );
    let addresses = aws
        .ec2
        .describe_addresses()
        .filters(tagged())
        .send()
        .await
        .unwrap();
    left.extend(
        addresses
            .addresses()
            .iter()
            .map(|a| a.allocation_id().unwrap().to_string()),
    );
    left
}

/// `vpc = "create"`: deployer makes the VPC, a public and a private subnet per zone, a NAT
/// gateway per zone and the routes. The nodes, the database and the cache sit in the private
/// subnets, which route 0.0.0.0/0 to a NAT gateway; the load balancer in the public ones, which
/// route to the internet gateway. Plan after apply is empty; a third zone is planned as its own
/// pieces and the changes to what spans the zones; destroy leaves nothing of the network.
#[tokio::test(flavor = "multi_thread")]
async fn a_created_vpc_puts_each_tier_where_it_belongs_and_goes_with_the_stack() {
    let aws = clients().await;
    let project = Project::new("ownvpc", "[network]\nvpc = \"create\"\nzones = 2\n");
    let stack = project.stack.clone();
    let applied = project.run(&["apply", "--yes"]).ok();
    assert!(!applied.stderr.contains("[network."), "{}", applied.stderr);

    let nodes = group(&aws, &stack).await;
    let node_subnets: Vec<String> = nodes
        .vpc_zone_identifier()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(node_subnets.len(), 2, "{node_subnets:?}");
    for subnet in &node_subnets {
        let route = default_route_of(&aws, subnet).await;
        assert!(route.starts_with("nat-"), "{subnet} routes to {route}");
    }
    let balancer = aws
        .elb
        .describe_load_balancers()
        .load_balancer_names(format!("{stack}-lb"))
        .send()
        .await
        .unwrap();
    let balancer_subnets = balancer.load_balancer_descriptions()[0].subnets().to_vec();
    assert_eq!(balancer_subnets.len(), 2);
    for subnet in &balancer_subnets {
        let route = default_route_of(&aws, subnet).await;
        assert!(route.starts_with("igw-"), "{subnet} routes to {route}");
        assert!(!node_subnets.contains(subnet));
    }
    let database = aws
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(format!("{stack}-db"))
        .send()
        .await
        .unwrap();
    for subnet in database.db_subnet_groups()[0].subnets() {
        assert!(
            node_subnets.contains(&subnet.subnet_identifier().unwrap().to_string()),
            "the database is in a public subnet"
        );
    }
    let cache = aws
        .elasticache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name(format!("{stack}-cache"))
        .send()
        .await
        .unwrap();
    for subnet in cache.cache_subnet_groups()[0].subnets() {
        assert!(
            node_subnets.contains(&subnet.subnet_identifier().unwrap().to_string()),
            "the cache is in a public subnet"
        );
    }

    let again = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.all());

    // A third zone: its own subnets, NAT gateway, elastic IP and route table; the tiers that
    // span the zones take its subnets.
    project.write_profile("[network]\nvpc = \"create\"\nzones = 3\n");
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    for expected in [
        format!("+ subnet {stack}-public-us-east-1c"),
        format!("+ subnet {stack}-private-us-east-1c"),
        format!("+ NAT gateway {stack}-nat-us-east-1c"),
        format!("+ elastic IP {stack}-nat-us-east-1c"),
        format!("+ route table {stack}-private-us-east-1c"),
        format!("~ auto scaling group {stack}-nodes"),
        format!("~ load balancer {stack}-lb"),
    ] {
        assert!(
            plan.stdout.contains(&expected),
            "{expected}\n{}",
            plan.stdout
        );
    }
    project.run(&["apply", "--yes"]).ok();
    assert_eq!(
        project.run(&["plan", "--detailed-exitcode"]).code,
        0,
        "the third zone converged"
    );

    // A new range would be a new VPC, which the live stack cannot move to: refused at its line.
    project.write_profile("[network]\nvpc = \"create\"\nzones = 3\ncidr = \"10.1.0.0/16\"\n");
    let refused = project.run(&["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains(
            "network.cidr: the VPC's range cannot change to 10.1.0.0/16 while the stack lives in it"
        ) && refused.stderr.contains("[network.cidr-changed]"),
        "{}",
        refused.stderr
    );

    project.run(&["destroy", "--yes"]).ok();
    assert_eq!(network_left(&aws, &stack).await, Vec::<String>::new());
}

/// `deployer bake` before the first apply of a stack whose VPC deployer creates: the bake makes
/// the network its builder needs first, and the builder runs in a private subnet (a NAT route)
/// without a public IP.
#[tokio::test(flavor = "multi_thread")]
async fn a_bake_before_the_first_apply_creates_the_network_its_builder_needs() {
    let aws = clients().await;
    let project = Project::new(
        "bakevpc",
        "[network]\nvpc = \"create\"\nzones = 2\n[node.bake]\nbase_image = \"ami-760aaa0f\"\ntimeout = \"60s\"\n",
    );
    let stack = project.stack.clone();
    let player = crate::bake::play_node(&aws, &stack);
    let baked = project.run(&["bake", "--yes"]);
    player.abort();
    let baked = baked.ok();
    for created in [
        format!("VPC {stack}: created"),
        format!("NAT gateway {stack}-nat-us-east-1a: created"),
        format!("route table {stack}-private-us-east-1a: created"),
    ] {
        assert!(
            baked.stderr.contains(&created),
            "{created}\n{}",
            baked.stderr
        );
    }
    let builders = aws
        .ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:deployer:stack")
                .values(&stack)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let builder = builders
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .expect("a builder ran");
    let subnet = builder.subnet_id().unwrap();
    let route = default_route_of(&aws, subnet).await;
    assert!(
        route.starts_with("nat-"),
        "the builder's subnet routes to {route}"
    );
    // The rest of the stack follows in the network the bake made.
    let player = crate::bake::play_node(&aws, &stack);
    let applied = project.run(&["apply", "--yes"]);
    player.abort();
    applied.ok();
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
    assert_eq!(network_left(&aws, &stack).await, Vec::<String>::new());
}

/// `nat = "none"`: no NAT gateway, no elastic IP; the private subnets route nowhere. Plan refuses
/// it while the nodes would have no way to the secrets they read, and takes it with a Secrets
/// Manager interface endpoint, which apply makes in the private subnets with private DNS on.
#[tokio::test(flavor = "multi_thread")]
async fn a_created_vpc_without_nat_gateways_reaches_aws_through_its_endpoints() {
    let aws = clients().await;
    let network = "[network]\nvpc = \"create\"\nzones = 2\nnat = \"none\"\n";
    let project = Project::new("nonat", network);
    let stack = project.stack.clone();
    let refused = project.run(&["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused
            .stderr
            .contains("network.nat: the nodes get no public IP")
            && refused.stderr.contains("[network.no-egress]")
            && refused.stderr.contains("to network.endpoints"),
        "{}",
        refused.stderr
    );

    project.write_profile(&format!("{network}endpoints = [\"secretsmanager\"]\n"));
    let applied = project.run(&["apply", "--yes"]).ok();
    // The nodes read their secrets, but their logs and Session Manager have no way to AWS.
    assert!(
        applied.stderr.contains(
            "network.endpoints: the nodes reach AWS through VPC endpoints only, and the VPC has none for logs, ssm, ssmmessages, ec2messages"
        ) && applied.stderr.contains("[network.endpoints-missing]"),
        "{}",
        applied.stderr
    );
    assert!(
        !applied.stderr.contains("[network.no-egress]"),
        "{}",
        applied.stderr
    );
    let all =
        "endpoints = [\"secretsmanager\", \"logs\", \"ssm\", \"ssmmessages\", \"ec2messages\"]\n";
    project.write_profile(&format!("{network}{all}"));
    let planned = project.run(&["plan"]).ok();
    assert!(!planned.stderr.contains("[network."), "{}", planned.stderr);
    project.write_profile(&format!("{network}endpoints = [\"secretsmanager\"]\n"));
    let nodes = group(&aws, &stack).await;
    let private: Vec<String> = nodes
        .vpc_zone_identifier()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    for subnet in &private {
        assert_eq!(
            default_route_of(&aws, subnet).await,
            "",
            "{subnet} routes out"
        );
    }
    let endpoints = aws
        .ec2
        .describe_vpc_endpoints()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:Name")
                .values(format!("{stack}-secretsmanager"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let endpoint = &endpoints.vpc_endpoints()[0];
    assert_eq!(
        endpoint
            .vpc_endpoint_type()
            .map(|t| t.as_str().to_ascii_lowercase()),
        Some("interface".to_string())
    );
    assert_eq!(endpoint.private_dns_enabled(), Some(true));
    let mut subnets = endpoint.subnet_ids().to_vec();
    subnets.sort();
    let mut wanted = private.clone();
    wanted.sort();
    assert_eq!(subnets, wanted);
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);
    project.run(&["destroy", "--yes"]).ok();
    assert_eq!(network_left(&aws, &stack).await, Vec::<String>::new());
}

/// A live stack cannot move to another VPC: a profile that now asks for one of its own (or names
/// another) is refused at `network.vpc` before any change.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_stack_is_not_moved_to_another_vpc() {
    let project = Project::standalone("movevpc", SMALL);
    project.run(&["apply", "--yes"]).ok();
    let stack = project.stack.clone();
    project.write(
        "profiles/test.toml",
        &format!("stack = \"{stack}\"\n{SMALL}\n[network]\nvpc = \"create\"\nzones = 2\n"),
    );
    let refused = project.run(&["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused
            .stderr
            .contains("network.vpc: the stack lives in another VPC than the profile names now")
            && refused.stderr.contains("[network.vpc-changed]")
            && refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    project.write(
        "profiles/test.toml",
        &format!("stack = \"{stack}\"\n{SMALL}\n"),
    );
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);
    project.run(&["destroy", "--yes"]).ok();
}
