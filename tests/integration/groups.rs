//! Extra node groups on the emulator: a group behind its own internal balancer that the main
//! nodes point at, and a worker group without one that uses the data tier. Scaled on its own,
//! reported by status, dropped from the profile (and so deleted), destroyed with the stack.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::check::{auto_scaling_group, security_groups, tagged_leftovers, user_data};
use crate::harness::{Clients, Project, clients};

const MANAGER: &str = r#"
[groups.manager]
ports = [9091]

[groups.manager.node]
image = "ami-760aaa0f"
instance_type = "t3.micro"
boot_template = "templates/manager.sh.j2"
"#;

const WORKER: &str = r#"
[groups.worker]
load_balancer = false
data_tier = true

[groups.worker.node]
image = "ami-760aaa0f"
instance_type = "t3.micro"
boot_template = "templates/worker.sh.j2"

[groups.worker.scaling]
min = 1
max = 2
"#;

/// The sources the database's security group admits, by security group name.
async fn database_clients(aws: &Clients, stack: &str) -> BTreeSet<String> {
    security_groups(aws, stack).await[&format!("{stack}-db")]
        .1
        .iter()
        .map(|rule| rule.rsplit(" from ").next().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_deploy_scale_report_and_go_when_dropped() {
    let aws = clients().await;
    let project = Project::new("grp", &format!("{MANAGER}{WORKER}"));
    let stack = project.stack.clone();
    project.write(
        "templates/boot.sh.j2",
        "#!/bin/sh\nMANAGER={{ groups.manager.endpoint }}:{{ groups.manager.ports[0] }}\nDB={{ database.host }}\n",
    );
    project.write("templates/manager.sh.j2", "#!/bin/sh\nserve {{ ports }}\n");
    project.write(
        "templates/worker.sh.j2",
        "#!/bin/sh\nDB={{ database.host }}\n",
    );

    // A boot template that names a group the profile does not have is refused before any call.
    project.write(
        "templates/worker.sh.j2",
        "#!/bin/sh\nX={{ groups.cron.endpoint }}\n",
    );
    let refused = project.run(&["validate"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("groups.worker.node.boot_template"),
        "{}",
        refused.all()
    );
    project.write(
        "templates/worker.sh.j2",
        "#!/bin/sh\nDB={{ database.host }}\n",
    );

    // A group's image is checked like the main one's, and named at the group's key.
    let missing = WORKER.replace("ami-760aaa0f", "ami-00000000deadbeef");
    project.write_profile(&format!("{MANAGER}{missing}"));
    let refused = project.run(&["plan"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused
            .stderr
            .contains("groups.worker.node.image: image ami-00000000deadbeef does not exist"),
        "{}",
        refused.all()
    );
    project.write_profile(&format!("{MANAGER}{WORKER}"));

    let applied = project.run(&["apply", "--yes", "--output", "json"]).ok();
    let outputs: Value = serde_json::from_str(&applied.stdout).unwrap();
    let manager_dns = outputs["outputs"]["group.manager.load_balancer_dns"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", applied.stdout))
        .to_string();
    assert_eq!(
        outputs["outputs"]["group.worker.auto_scaling_group"],
        format!("{stack}-worker")
    );

    // The manager runs behind its internal balancer, the main nodes boot pointing at it.
    let manager = auto_scaling_group(&aws, &format!("{stack}-manager"))
        .await
        .unwrap();
    assert_eq!(
        manager.load_balancer_names(),
        [format!("{stack}-manager-lb")]
    );
    assert_eq!(manager.health_check_type(), Some("ELB"));
    assert_eq!((manager.min_size(), manager.max_size()), (Some(1), Some(1)));
    let boot = user_data(&aws, &stack).await;
    assert!(
        boot.contains(&format!("MANAGER={manager_dns}:9091")),
        "{boot}"
    );

    // The worker has no balancer: EC2 checks its health; the database admits it.
    let worker = auto_scaling_group(&aws, &format!("{stack}-worker"))
        .await
        .unwrap();
    assert!(worker.load_balancer_names().is_empty());
    assert_eq!(worker.health_check_type(), Some("EC2"));
    let clients_of_db = database_clients(&aws, &stack).await;
    assert!(
        clients_of_db.contains(&format!("{stack}-worker")),
        "{clients_of_db:?}"
    );
    assert!(
        !clients_of_db.contains(&format!("{stack}-manager")),
        "{clients_of_db:?}"
    );

    // Nothing left to do.
    project.run(&["plan", "--detailed-exitcode"]).ok();

    // Scale one group on its own; later plans keep it; an unknown group changes nothing.
    let unknown = project.run(&["scale", "--group", "nope", "--max", "3"]);
    assert_eq!(unknown.code, 1, "{}", unknown.all());
    assert!(
        unknown.stderr.contains("its groups: manager, worker"),
        "{}",
        unknown.all()
    );
    project
        .run(&["scale", "--group", "worker", "--max", "3"])
        .ok();
    let worker = auto_scaling_group(&aws, &format!("{stack}-worker"))
        .await
        .unwrap();
    assert_eq!(worker.max_size(), Some(3));
    let main = auto_scaling_group(&aws, &format!("{stack}-nodes"))
        .await
        .unwrap();
    assert_ne!(main.max_size(), Some(3), "the main group is not scaled");
    project.run(&["plan", "--detailed-exitcode"]).ok();

    // Status reports each group.
    let status = project.run(&["status", "--output", "json"]).ok();
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["groups"]["worker"]["max"], 3, "{status}");
    assert_eq!(
        status["groups"]["manager"]["name"],
        format!("{stack}-manager")
    );
    assert!(status["group"]["name"].is_string(), "{status}");

    // Dropped from the profile, the worker goes with everything of its own, and the database
    // no longer admits it.
    project.write_profile(MANAGER);
    let plan = project.run(&["plan", "--output", "json"]).ok();
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let deleted: BTreeSet<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "delete")
        .map(|s| s["resource"].as_str().unwrap().to_string())
        .collect();
    for kind in ["auto scaling group", "launch template", "security group"] {
        assert!(
            deleted.contains(&format!("{kind} {stack}-worker")),
            "{deleted:?}"
        );
    }
    project.run(&["apply", "--yes"]).ok();
    assert!(
        auto_scaling_group(&aws, &format!("{stack}-worker"))
            .await
            .is_none()
    );
    assert!(
        !security_groups(&aws, &stack)
            .await
            .contains_key(&format!("{stack}-worker"))
    );
    let clients_of_db = database_clients(&aws, &stack).await;
    assert_eq!(clients_of_db, BTreeSet::from([format!("{stack}-nodes")]));
    project.run(&["plan", "--detailed-exitcode"]).ok();

    // Destroy takes the remaining group with the stack, though the profile no longer names it.
    project.write_profile("");
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
    let left = tagged_leftovers(&aws, &stack).await;
    assert!(left.is_empty(), "{left:?}");
}
