//! The shipped example profiles (prod, krakend, kong) deploy and destroy as shipped: their own
//! bake and boot templates, base image lookup, listeners, health check and data tier. Only the
//! stack name and the certificate (the emulator's own) differ.

use std::collections::BTreeSet;

use crate::bake::play_node;
use crate::check::{
    certificate, database, images, load_balancer, security_groups, tagged_leftovers, user_data,
};
use crate::harness::{Clients, Project, clients};

/// The shipped profile `name`, parsed.
fn shipped(name: &str) -> toml::Table {
    let path = crate::harness::root().join(format!("profiles/{name}.toml"));
    std::fs::read_to_string(&path).unwrap().parse().unwrap()
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
    let (project, profile) = project_for(&aws, name).await;
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
    let mut tiers = vec!["lb", "nodes"];
    tiers.extend(["database", "cache"].into_iter().filter_map(|t| {
        profile
            .contains_key(t)
            .then_some(if t == "database" { "db" } else { "cache" })
    }));
    assert_eq!(
        groups.keys().cloned().collect::<BTreeSet<_>>(),
        tiers.iter().map(|t| format!("{stack}-{t}")).collect(),
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
    let health_port: i64 = target
        .split(':')
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
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
    assert_eq!(baked.len(), 1, "{name}: {baked:?}");
    let boot = user_data(&aws, &stack).await;
    let boot_template = profile["node"]["boot_template"].as_str().unwrap();
    let first_line = std::fs::read_to_string(crate::harness::root().join(boot_template))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(boot.contains(&first_line), "{name}: {boot}");
    if profile.contains_key("database") {
        let db = database(&aws, &stack).await;
        let host = db.endpoint().unwrap().address().unwrap();
        let secret = db.master_user_secret().unwrap().secret_arn().unwrap();
        assert!(boot.contains(host), "{name}: {boot}");
        assert!(boot.contains(secret), "{name}: {boot}");
    }

    project.run(&["plan", "--detailed-exitcode"]).ok();
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
    let left = tagged_leftovers(&aws, &stack).await;
    assert!(left.is_empty(), "{name}: {left:?}");
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
