//! The shipped example profiles (prod, krakend, kong) deploy and destroy as shipped: their own
//! bake and boot templates, base image lookup, listeners, health check and data tier. Only the
//! stack name and the certificate (the emulator's own) differ.

use std::collections::BTreeSet;

use crate::bake::play_node;
use crate::check::{
    auto_scaling_group, certificate, database, images, load_balancer, security_groups,
    tagged_leftovers, template_user_data, user_data,
};
use crate::harness::{Clients, Project, clients};

/// The shipped profile `name`, parsed, with the profile it extends merged in (tables key by key,
/// its own keys winning), as deployer merges them.
fn shipped(name: &str) -> toml::Table {
    let path = crate::harness::root().join(format!("profiles/{name}.toml"));
    let own: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let Some(parent) = own.get("extends").and_then(|e| e.as_str()) else {
        return own;
    };
    fn merge(base: &mut toml::Table, over: &toml::Table) {
        for (key, value) in over {
            match (base.get_mut(key), value) {
                (Some(toml::Value::Table(base)), toml::Value::Table(over)) => merge(base, over),
                _ => {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
    }
    let mut merged = shipped(parent);
    merge(&mut merged, &own);
    merged.remove("extends");
    merged
}

/// A project whose test profile extends the shipped `name`, with its listeners' certificates
/// replaced by one the emulator knows.
async fn project_for(aws: &Clients, name: &str) -> (Project, toml::Table) {
    let profile = shipped(name);
    let certificate = certificate(aws, &format!("{name}.example")).await;
    let mut listeners = profile["load_balancer"]["listeners"]
        .as_array()
        .unwrap()
        .clone();
    for listener in &mut listeners {
        let listener = listener.as_table_mut().unwrap();
        if listener.contains_key("certificate") {
            listener.insert("certificate".into(), certificate.clone().into());
        }
    }
    let mut overrides = toml::Table::new();
    overrides.insert(
        "load_balancer".into(),
        toml::Value::Table(toml::Table::from_iter([(
            "listeners".to_string(),
            toml::Value::Array(listeners),
        )])),
    );
    let project = Project::new(&name[..4], "");
    project.write(
        "profiles/test.toml",
        &format!(
            "extends = \"{name}\"\nstack = \"{}\"\n{}",
            project.stack,
            toml::to_string(&overrides).unwrap()
        ),
    );
    (project, profile)
}

/// Apply the example, check what it became against the shipped profile, plan (empty), destroy
/// (nothing left).
async fn deploys_and_destroys(name: &str) {
    let aws = clients().await;
    let (mut project, profile) = project_for(&aws, name).await;
    let stack = project.stack.clone();
    let node = play_node(&aws, &stack);
    let applied = project.run(&["apply", "--yes"]);
    node.abort();
    let applied = applied.ok();

    // The data tier is there exactly when the profile asks for it.
    for (table, output) in [
        ("database", "database_endpoint"),
        ("cache", "cache_endpoint"),
    ] {
        assert_eq!(
            applied.stdout.contains(output),
            profile.contains_key(table),
            "{name}: [{table}] vs output {output}:\n{}",
            applied.stdout
        );
    }
    let groups = security_groups(&aws, &stack).await;
    let extra = extra_groups(&profile);
    let mut tiers = vec!["lb".to_string(), "nodes".to_string()];
    tiers.extend(["database", "cache"].into_iter().filter_map(|t| {
        profile
            .contains_key(t)
            .then_some(if t == "database" { "db" } else { "cache" }.to_string())
    }));
    for (group, table) in &extra {
        tiers.push(group.clone());
        if table.get("load_balancer").and_then(|v| v.as_bool()) != Some(false) {
            tiers.push(format!("{group}-lb"));
        }
    }
    assert_eq!(
        groups.keys().cloned().collect::<BTreeSet<_>>(),
        tiers
            .iter()
            .map(|t| format!("{stack}-{t}"))
            .collect::<BTreeSet<_>>(),
        "{name}"
    );

    // Each listener admits exactly its own CIDRs; the nodes admit the instance ports and the
    // health check port from the balancer only.
    let lb = &profile["load_balancer"];
    let mut lb_rules = BTreeSet::new();
    let mut node_ports = BTreeSet::new();
    for listener in lb["listeners"].as_array().unwrap() {
        let port = listener["port"].as_integer().unwrap();
        for cidr in listener["allow"].as_array().unwrap() {
            lb_rules.insert(format!("tcp {port}-{port} from {}", cidr.as_str().unwrap()));
        }
        node_ports.insert(listener["instance_port"].as_integer().unwrap());
    }
    let target = lb["health_check"]["target"].as_str().unwrap();
    let health_port = health_port(target);
    node_ports.insert(health_port);
    assert_eq!(groups[&format!("{stack}-lb")].1, lb_rules, "{name}");
    assert_eq!(
        groups[&format!("{stack}-nodes")].1,
        node_ports
            .iter()
            .map(|p| format!("tcp {p}-{p} from {stack}-lb"))
            .collect::<BTreeSet<_>>(),
        "{name}"
    );
    let balancer = load_balancer(&aws, &stack).await;
    assert_eq!(balancer.health_check().unwrap().target(), target, "{name}");
    let described: BTreeSet<(i32, i32)> = balancer
        .listener_descriptions()
        .iter()
        .filter_map(|d| d.listener())
        .map(|l| (l.load_balancer_port(), l.instance_port()))
        .collect();
    let wanted: BTreeSet<(i32, i32)> = lb["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["port"].as_integer().unwrap() as i32,
                l["instance_port"].as_integer().unwrap() as i32,
            )
        })
        .collect();
    assert_eq!(described, wanted, "{name}");

    // The node image was baked from the example's template, and the nodes boot from its boot
    // template with the endpoints (never a secret value).
    let baked = images(&aws, &stack).await;
    let bakes = 1 + extra
        .values()
        .filter(|g| g["node"].as_table().unwrap().contains_key("bake"))
        .count();
    assert_eq!(baked.len(), bakes, "{name}: {baked:?}");
    let boot = user_data(&aws, &stack).await;
    let boot_template = profile["node"]["boot_template"].as_str().unwrap();
    assert!(boot.contains(&first_line(boot_template)), "{name}: {boot}");
    if profile.contains_key("database") {
        let db = database(&aws, &stack).await;
        let host = db.endpoint().unwrap().address().unwrap();
        let secret = db.master_user_secret().unwrap().secret_arn().unwrap();
        assert!(boot.contains(host), "{name}: {boot}");
        assert!(boot.contains(secret), "{name}: {boot}");
    }

    for (group, table) in &extra {
        check_group(&aws, &stack, group, table, &groups, &boot).await;
    }

    project.run(&["plan", "--detailed-exitcode"]).ok();
    record_plan_requests(name, &mut project);
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
    let left = tagged_leftovers(&aws, &stack).await;
    assert!(left.is_empty(), "{name}: {left:?}");
}

/// The requests of each example's no-op plan, by action, as the simulator counted them.
static PLAN_REQUESTS: std::sync::Mutex<
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Actions AWS serves one resource at a time (no batch form): a second node group's balancer
/// (its attributes, its instances' health) and launch template each need one more.
const PER_RESOURCE: &[&str] = &[
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "ec2:DescribeLaunchTemplateVersions",
    "elasticloadbalancing:DescribeInstanceHealth",
];

/// Plan through a simulator and record the requests. Once both krakend profiles are recorded:
/// the one with a second node group makes no more requests than the one without, but for the
/// reads AWS offers one resource at a time, one more each for the extra balancer and template.
fn record_plan_requests(name: &str, project: &mut Project) {
    let simulator = crate::reliability::Simulator::start();
    project.endpoint = Some(simulator.url());
    simulator.configure(serde_json::json!({}));
    project.run(&["plan", "--detailed-exitcode"]).ok();
    project.endpoint = None;
    let counts: std::collections::BTreeMap<String, u64> = simulator.stats()["by_action"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(action, stat)| (action.clone(), stat["count"].as_u64().unwrap()))
        .collect();
    let mut all = PLAN_REQUESTS.lock().unwrap();
    all.insert(name.to_string(), counts);
    if !name.starts_with("krakend") {
        return;
    }
    let (Some(one), Some(two)) = (all.get("krakend"), all.get("krakend-cluster")) else {
        return;
    };
    let total = |counts: &std::collections::BTreeMap<String, u64>| counts.values().sum::<u64>();
    let mut extra = 0;
    for (action, count) in two {
        let single = one.get(action).copied().unwrap_or(0);
        if PER_RESOURCE.contains(&action.as_str()) {
            assert_eq!(*count, single + 1, "{action}: {one:?} vs {two:?}");
            extra += 1;
        } else {
            assert!(
                *count <= single,
                "{action}: a second node group made {count} requests, one group {single}: {two:?}"
            );
        }
    }
    assert!(total(two) <= total(one) + extra, "{one:?} vs {two:?}");
    println!(
        "no-op plan requests: krakend {}, krakend-cluster {} (of which {extra} per-resource reads)",
        total(one),
        total(two)
    );
}

/// The port of a health check target: `HTTP:8080/__health` -> 8080.
fn health_port(target: &str) -> i64 {
    let port = target.split(':').nth(1).unwrap();
    port.split('/').next().unwrap().parse().unwrap()
}

/// The second line of a shipped template (its first after the shebang), which the rendered
/// script must carry.
fn first_line(template: &str) -> String {
    let text = std::fs::read_to_string(crate::harness::root().join(template)).unwrap();
    text.lines().nth(1).unwrap().to_string()
}

/// The profile's extra node groups (`[groups.<name>]`), by name.
fn extra_groups(profile: &toml::Table) -> std::collections::BTreeMap<String, toml::Table> {
    profile
        .get("groups")
        .and_then(|g| g.as_table())
        .map(|groups| {
            groups
                .iter()
                .map(|(name, table)| (name.clone(), table.as_table().unwrap().clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// An extra group as deployed: its own tier (its balancer admits its ports from the main nodes
/// only; its instances admit them from its balancer only), an internal balancer with its health
/// check, its own Auto Scaling Group and launch template, and the main nodes' boot script
/// carrying its balancer's DNS name.
async fn check_group(
    aws: &Clients,
    stack: &str,
    group: &str,
    table: &toml::Table,
    groups: &crate::check::SecurityGroups,
    main_boot: &str,
) {
    let ports: Vec<i64> = table["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_integer().unwrap())
        .collect();
    let target = table["health_check"].as_str().unwrap();
    let health_port = health_port(target);
    let rules = |ports: &[i64], source: &str| -> BTreeSet<String> {
        ports
            .iter()
            .map(|p| format!("tcp {p}-{p} from {source}"))
            .collect()
    };
    assert_eq!(
        groups[&format!("{stack}-{group}-lb")].1,
        rules(&ports, &format!("{stack}-nodes")),
        "{group}"
    );
    let mut instance_ports = ports.clone();
    instance_ports.push(health_port);
    assert_eq!(
        groups[&format!("{stack}-{group}")].1,
        rules(&instance_ports, &format!("{stack}-{group}-lb")),
        "{group}"
    );
    let balancer = load_balancer(aws, &format!("{stack}-{group}")).await;
    assert_eq!(balancer.scheme(), Some("internal"), "{group}");
    assert_eq!(balancer.health_check().unwrap().target(), target, "{group}");
    let listeners: Vec<(i32, i32)> = balancer
        .listener_descriptions()
        .iter()
        .filter_map(|d| d.listener())
        .map(|l| (l.load_balancer_port(), l.instance_port()))
        .collect();
    assert_eq!(
        listeners,
        ports
            .iter()
            .map(|&p| (p as i32, p as i32))
            .collect::<Vec<_>>(),
        "{group}"
    );
    let dns = balancer.dns_name().unwrap();
    assert!(
        main_boot.contains(dns),
        "{group}: the main boot script lacks {dns}:\n{main_boot}"
    );

    let live = auto_scaling_group(aws, &format!("{stack}-{group}"))
        .await
        .unwrap();
    let scaling = table["scaling"].as_table().unwrap();
    assert_eq!(
        live.min_size(),
        Some(scaling["min"].as_integer().unwrap() as i32)
    );
    assert_eq!(
        live.max_size(),
        Some(scaling["max"].as_integer().unwrap() as i32)
    );
    assert_eq!(live.load_balancer_names(), [format!("{stack}-{group}-lb")]);
    assert_eq!(
        live.launch_template()
            .and_then(|t| t.launch_template_name()),
        Some(format!("{stack}-{group}").as_str())
    );
    let boot = template_user_data(aws, &format!("{stack}-{group}")).await;
    let template = table["node"]["boot_template"].as_str().unwrap();
    assert!(boot.contains(&first_line(template)), "{group}: {boot}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_krakend_cluster_profile_deploys_its_collector_group_and_destroys() {
    deploys_and_destroys("krakend-cluster").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_profile_deploys_and_destroys() {
    deploys_and_destroys("prod").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_krakend_profile_deploys_and_destroys() {
    deploys_and_destroys("krakend").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kong_profile_deploys_and_destroys() {
    deploys_and_destroys("kong").await;
}
