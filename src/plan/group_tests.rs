//! Extra node groups in the desired stack and the plan: their own tier, the order the graph
//! gives them, the main nodes pointing at them, and a group the profile drops.

use super::tests::{PROFILE, bakes_of, desired_with, matching, spec};
use super::{Action, plan};
use crate::ids::{Kind, ResourceId};
use crate::resources::observed::Observed;
use crate::resources::{
    auto_scaling_group, database, launch_template, load_balancer, security_group,
};
use crate::stack::Desired;

const GROUPS: &str = r#"
[groups.manager]
ports = [9091]
[groups.manager.node]
image = "ami-0123456789abcdef0"
instance_type = "t3.small"
boot_template = "templates/manager.sh.j2"
[groups.manager.scaling]
min = 1
max = 1

[groups.worker]
load_balancer = false
data_tier = true
[groups.worker.node]
image = "ami-0123456789abcdef0"
boot_template = "templates/worker.sh.j2"
[groups.worker.scaling]
min = 1
max = 3
"#;

const MAIN_BOOT: &str =
    "db={{ database.host }} manager={{ groups.manager.endpoint }}:{{ groups.manager.ports[0] }}\n";

fn with_groups() -> Desired {
    desired_with(
        &format!("{PROFILE}{GROUPS}"),
        &[
            ("templates/boot.sh.j2", MAIN_BOOT),
            ("templates/manager.sh.j2", "manager on {{ ports }}\n"),
            ("templates/worker.sh.j2", "db={{ database.host }}\n"),
        ],
    )
}

fn depends(desired: &Desired, kind: Kind, name: &str) -> Vec<ResourceId> {
    desired
        .get(&ResourceId::new(kind, name))
        .unwrap()
        .depends_on
        .clone()
}

fn ingress(desired: &Desired, name: &str) -> Vec<String> {
    spec::<security_group::SecurityGroups>(desired, name)
        .ingress
        .iter()
        .map(|r| r.canonical())
        .collect()
}

#[test]
fn an_extra_group_gets_its_own_tier_and_the_main_nodes_wait_for_its_endpoint() {
    let desired = with_groups();
    // The manager: an internal balancer on its port, admitted from the main nodes only.
    let lb = spec::<load_balancer::LoadBalancers>(&desired, "shop-manager-lb");
    assert_eq!(lb.scheme, crate::profile::schema::Scheme::Internal);
    assert_eq!(lb.health_check.target, "TCP:9091");
    assert_eq!(
        lb.listeners
            .iter()
            .map(|l| (l.port, l.instance_port))
            .collect::<Vec<_>>(),
        vec![(9091, 9091)]
    );
    let lb_rules = ingress(&desired, "shop-manager-lb");
    assert_eq!(lb_rules.len(), 1);
    assert!(
        lb_rules[0].contains("9091") && lb_rules[0].contains("shop-nodes"),
        "{lb_rules:?}"
    );
    let node_rules = ingress(&desired, "shop-manager");
    assert_eq!(node_rules.len(), 1);
    assert!(node_rules[0].contains("shop-manager-lb"), "{node_rules:?}");
    let manager = spec::<auto_scaling_group::AutoScalingGroups>(&desired, "shop-manager");
    assert_eq!((manager.min, manager.max), (1, 1));
    assert_eq!(manager.load_balancer.as_deref(), Some("shop-manager-lb"));
    assert_eq!(manager.launch_template, "shop-manager");

    // The worker: no balancer, EC2 health checks, and the data tier admits it.
    assert!(
        desired
            .get(&ResourceId::new(load_balancer::KIND, "shop-worker-lb"))
            .is_none()
    );
    let worker = spec::<auto_scaling_group::AutoScalingGroups>(&desired, "shop-worker");
    assert_eq!(worker.load_balancer, None);
    for data in ["shop-db", "shop-cache"] {
        let rules = ingress(&desired, data).join(" ");
        assert!(
            rules.contains("shop-nodes") && rules.contains("shop-worker"),
            "{rules}"
        );
        assert!(!rules.contains("shop-manager"), "{rules}");
    }

    // The graph: the main template waits for the manager's balancer (its endpoint); the
    // manager's template does not wait for the database, the worker's does.
    let balancer = ResourceId::new(load_balancer::KIND, "shop-manager-lb");
    assert!(depends(&desired, launch_template::KIND, "shop-node").contains(&balancer));
    let database = ResourceId::new(database::KIND, "shop-db");
    assert!(!depends(&desired, launch_template::KIND, "shop-manager").contains(&database));
    assert!(depends(&desired, launch_template::KIND, "shop-worker").contains(&database));
    assert!(
        depends(&desired, auto_scaling_group::KIND, "shop-manager").contains(&balancer),
        "the manager's group waits for its balancer"
    );
    for id in desired.resources.iter().flat_map(|r| &r.depends_on) {
        assert!(
            desired.get(id).is_some(),
            "{id} is depended on but not desired"
        );
    }
}

#[test]
fn the_main_user_data_carries_the_group_endpoint_once_its_balancer_exists() {
    let desired = with_groups();
    let template = ResourceId::new(launch_template::KIND, "shop-node");
    // From nothing: the balancer is created, so the user data is known only when applying.
    let fresh = plan(&desired, &Observed::default()).unwrap();
    let step = fresh.steps.iter().find(|s| s.id == template).unwrap();
    let user_data = step
        .changes
        .iter()
        .find(|c| c.attribute == "user_data")
        .unwrap();
    assert_eq!(user_data.new, None);
    // Against a live stack, the balancer's DNS name is in the user data, and nothing changes.
    let live = matching(&desired);
    let lb = live
        .get(&ResourceId::new(load_balancer::KIND, "shop-manager-lb"))
        .unwrap();
    let dns = lb.outputs.endpoint.clone().unwrap().0;
    let rendered = live.get(&template).unwrap().attributes["user_data"]
        .as_str()
        .unwrap();
    assert!(
        rendered.contains(&format!("manager={dns}:9091")),
        "{rendered}"
    );
    let settled = plan(&desired, &live).unwrap();
    assert!(!settled.has_changes(), "{settled:?}");
}

#[test]
fn a_group_dropped_from_the_profile_is_deleted_and_the_data_tier_stops_admitting_it() {
    let desired = with_groups();
    let live = matching(&desired);
    let without_worker = desired_with(
        &format!("{PROFILE}{GROUPS}")
            .replace(&GROUPS[GROUPS.find("[groups.worker]").unwrap()..], ""),
        &[
            ("templates/boot.sh.j2", MAIN_BOOT),
            ("templates/manager.sh.j2", "manager on {{ ports }}\n"),
        ],
    );
    let plan = plan(&without_worker, &live).unwrap();
    let action = |kind: Kind, name: &str| {
        plan.steps
            .iter()
            .find(|s| s.id == ResourceId::new(kind, name))
            .map(|s| s.action)
    };
    assert_eq!(
        action(auto_scaling_group::KIND, "shop-worker"),
        Some(Action::Delete)
    );
    assert_eq!(
        action(launch_template::KIND, "shop-worker"),
        Some(Action::Delete)
    );
    assert_eq!(
        action(security_group::KIND, "shop-worker"),
        Some(Action::Delete)
    );
    assert_eq!(
        action(security_group::KIND, "shop-db"),
        Some(Action::Update)
    );
    assert_eq!(
        action(auto_scaling_group::KIND, "shop-manager"),
        Some(Action::None)
    );
    // The group goes before its template, its template before its security group, and that
    // once the data tier's rules no longer name it: what the live resources use.
    let after = |kind: Kind, name: &str| {
        plan.steps
            .iter()
            .find(|s| s.id == ResourceId::new(kind, name))
            .unwrap()
            .after
            .clone()
    };
    assert!(
        after(launch_template::KIND, "shop-worker")
            .contains(&ResourceId::new(auto_scaling_group::KIND, "shop-worker"))
    );
    let group_after = after(security_group::KIND, "shop-worker");
    for first in [
        ResourceId::new(launch_template::KIND, "shop-worker"),
        ResourceId::new(security_group::KIND, "shop-db"),
    ] {
        assert!(group_after.contains(&first), "{first}: {group_after:?}");
    }
}

#[test]
fn each_group_bakes_from_its_own_base_image_and_never_shares_a_builder() {
    // The main nodes and the manager bake with the same template.
    let profile = format!("{PROFILE}{GROUPS}").replacen(
        "image = \"ami-0123456789abcdef0\"\n",
        "",
        2,
    ) + "[node.bake]\nbase_image = { owner = \"amazon\", name = \"al2023-*\" }\n"
        + "[groups.manager.node.bake]\nbase_image = { owner = \"amazon\", name = \"ubuntu-*\" }\n";
    assert!(
        profile.contains("ubuntu-*") && profile.contains("al2023-*"),
        "{profile}"
    );
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in [
        ("profiles/shop.toml", profile.as_str()),
        ("templates/boot.sh.j2", MAIN_BOOT),
        ("templates/manager.sh.j2", "manager on {{ ports }}\n"),
        ("templates/worker.sh.j2", "db={{ database.host }}\n"),
        (
            "templates/bake.sh.j2",
            "install\necho deployer-bake: done\npoweroff\n",
        ),
    ] {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let loaded =
        crate::profile::load::load(dir.path().join("profiles/shop.toml").to_str().unwrap())
            .unwrap();
    let mut environment = crate::stack::Environment::offline("us-east-1");
    environment.base_image = Some("ami-0000000000000a1a1".into());
    environment
        .group_base_images
        .insert("manager".into(), "ami-0000000000000b2b2".into());
    let desired = crate::stack::build(&loaded, &environment).unwrap();
    let bakes = bakes_of(&desired);
    assert_eq!(bakes.len(), 2);
    let of = |prefix: &str| {
        bakes
            .iter()
            .find(|(id, _)| id.name.starts_with(prefix))
            .map(|(_, spec)| spec.clone())
            .unwrap()
    };
    let (main, manager) = (of("shop-node-"), of("shop-manager-"));
    assert_eq!(main.base_image, "ami-0000000000000a1a1");
    assert_eq!(manager.base_image, "ami-0000000000000b2b2");
    assert_ne!(main.hash, manager.hash);
    let names = desired.names();
    assert_ne!(
        names.builder_security_group(&main.hash),
        names.builder_security_group(&manager.hash)
    );
    // Even from the same base image and template, the two bakes are two builders.
    environment
        .group_base_images
        .insert("manager".into(), "ami-0000000000000a1a1".into());
    let same = crate::stack::build(&loaded, &environment).unwrap();
    let hashes: std::collections::BTreeSet<String> = bakes_of(&same)
        .into_iter()
        .map(|(_, spec)| spec.hash)
        .collect();
    assert_eq!(hashes.len(), 2);
}
