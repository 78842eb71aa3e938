//! The core capability: apply creates the whole stack with the baseline, plan is then empty,
//! changes are planned and applied, out-of-band deletes are recreated, destroy leaves nothing.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::check::{
    certificate, database, group, load_balancer, load_balancer_attributes, security_groups,
    tagged_leftovers, user_data,
};
use crate::harness::{Project, REGION, clients};

/// The reference listeners (443 -> 80, 8443 -> 8080, HTTPS with a certificate).
fn reference_listeners(certificate: &str) -> String {
    format!(
        r#"
[[load_balancer.listeners]]
port = 443
protocol = "HTTPS"
instance_port = 80
certificate = "{certificate}"
allow = ["0.0.0.0/0"]

[[load_balancer.listeners]]
port = 8443
protocol = "HTTPS"
instance_port = 8080
certificate = "{certificate}"
allow = ["10.0.0.0/8"]
"#
    )
}

fn strings(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_creates_the_reference_stack_with_its_baseline_then_plan_is_empty_and_destroy_clears_it()
 {
    let aws = clients().await;
    let certificate = certificate(&aws, "deployer.example").await;
    let project = Project::new("full", &reference_listeners(&certificate));
    let stack = project.stack.clone();

    // A saved plan applies exactly.
    project.run(&["plan", "--out", "create.plan"]).ok();
    let applied = project.run_raw(&["apply", "create.plan"]).ok();
    // 13, the access log bucket, the log group, and the alarms: their key, their topic and 15
    // alarms.
    assert!(
        applied.stdout.contains("Apply complete: 32 to create."),
        "{}",
        applied.all()
    );
    for output in [
        "load_balancer_dns",
        "database_endpoint",
        "database_secret_arn",
        "cache_endpoint",
        "cache_auth_secret_arn",
    ] {
        assert!(
            applied.stdout.contains(output),
            "{output} missing:\n{}",
            applied.stdout
        );
    }

    // Security groups: each tier admits only the one before it.
    let groups = security_groups(&aws, &stack).await;
    let rules = |tier: &str| groups[&format!("{stack}-{tier}")].1.clone();
    assert_eq!(
        rules("lb"),
        strings(&[
            "tcp 443-443 from 0.0.0.0/0",
            "tcp 8443-8443 from 10.0.0.0/8"
        ])
    );
    assert_eq!(
        rules("nodes"),
        [80, 8080]
            .iter()
            .map(|p| format!("tcp {p}-{p} from {stack}-lb"))
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(
        rules("db"),
        [format!("tcp 5432-5432 from {stack}-nodes")].into()
    );
    assert_eq!(
        rules("cache"),
        [format!("tcp 6379-6379 from {stack}-nodes")].into()
    );
    for (name, (_, _, tags)) in &groups {
        assert_eq!(tags.get("deployer:stack"), Some(&stack), "{name}");
        assert!(tags.contains_key("deployer:component"), "{name}");
    }
    let group_id = |tier: &str| groups[&format!("{stack}-{tier}")].0.clone();

    // Database: the reference configuration and the baseline.
    let db = &database(&aws, &stack).await;
    assert_eq!(db.engine(), Some("postgres"));
    // The profile's major, created as the newest 16.x RDS lists.
    let creatable = aws
        .rds
        .describe_db_engine_versions()
        .engine("postgres")
        .send()
        .await
        .unwrap();
    let newest_16 = creatable
        .db_engine_versions()
        .iter()
        .filter_map(|v| v.engine_version())
        .filter(|v| v.starts_with("16."))
        .max_by_key(|v| v[3..].parse::<u32>().unwrap())
        .unwrap();
    assert_eq!(db.engine_version(), Some(newest_16));
    assert_eq!(db.db_instance_class(), Some("db.m6i.large"));
    assert_eq!(db.allocated_storage(), Some(250));
    assert_eq!(db.storage_type(), Some("gp2"));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.multi_az(), Some(true));
    assert_eq!(db.endpoint().unwrap().port(), Some(5432));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(db.deletion_protection(), Some(true));
    assert_eq!(db.backup_retention_period(), Some(7));
    assert_eq!(db.auto_minor_version_upgrade(), Some(true));
    let master_secret = db
        .master_user_secret()
        .unwrap()
        .secret_arn()
        .unwrap()
        .to_string();
    assert_eq!(
        db.db_subnet_group().unwrap().db_subnet_group_name(),
        Some(format!("{stack}-db").as_str())
    );
    let db_groups: Vec<&str> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(db_groups, vec![group_id("db").as_str()]);
    assert!(
        db.tag_list()
            .iter()
            .any(|t| t.key() == Some("deployer:stack") && t.value() == Some(stack.as_str()))
    );
    let db_host = db.endpoint().unwrap().address().unwrap().to_string();

    // Cache: a replication group with failover, Multi-AZ, encryption and AUTH.
    let cache = aws
        .elasticache
        .describe_replication_groups()
        .replication_group_id(format!("{stack}-cache"))
        .send()
        .await
        .unwrap();
    let cache = &cache.replication_groups()[0];
    assert_eq!(cache.member_clusters().len(), 2);
    assert_eq!(cache.cache_node_type(), Some("cache.m6g.large"));
    assert_eq!(
        cache.automatic_failover().map(|s| s.as_str()),
        Some("enabled")
    );
    assert_eq!(cache.multi_az().map(|s| s.as_str()), Some("enabled"));
    assert_eq!(cache.at_rest_encryption_enabled(), Some(true));
    assert_eq!(cache.transit_encryption_enabled(), Some(true));
    assert_eq!(cache.auth_token_enabled(), Some(true));
    let primary = cache.node_groups()[0].primary_endpoint().unwrap();
    assert_eq!(primary.port(), Some(6379));
    let cache_host = primary.address().unwrap().to_string();
    let member = aws
        .elasticache
        .describe_cache_clusters()
        .cache_cluster_id(&cache.member_clusters()[0])
        .send()
        .await
        .unwrap();
    let member = &member.cache_clusters()[0];
    assert_eq!(
        member.security_groups()[0].security_group_id(),
        Some(group_id("cache").as_str())
    );
    assert_eq!(
        member.cache_subnet_group_name(),
        Some(format!("{stack}-cache").as_str())
    );
    let auth = aws
        .secrets
        .get_secret_value()
        .secret_id(format!("deployer/{stack}/cache-auth-token"))
        .send()
        .await
        .unwrap();
    let token = auth.secret_string().unwrap().to_string();
    let auth_arn = auth.arn().unwrap().to_string();
    assert_eq!(token.len(), 64);

    // Load balancer: listeners, TLS policy, health check, attributes, group.
    let lb_name = format!("{stack}-lb");
    let lb = &load_balancer(&aws, &stack).await;
    let mut listeners: Vec<String> = lb
        .listener_descriptions()
        .iter()
        .map(|d| {
            let l = d.listener().unwrap();
            format!(
                "{} {} -> {} {} {} {:?}",
                l.load_balancer_port(),
                l.protocol(),
                l.instance_port(),
                l.instance_protocol().unwrap_or("?"),
                l.ssl_certificate_id().unwrap_or("-"),
                d.policy_names()
            )
        })
        .collect();
    listeners.sort();
    assert_eq!(
        listeners,
        vec![
            format!("443 HTTPS -> 80 HTTP {certificate} [\"deployer-tls-TLS-1-2-2017-01\"]"),
            format!("8443 HTTPS -> 8080 HTTP {certificate} [\"deployer-tls-TLS-1-2-2017-01\"]"),
        ]
    );
    let policies = aws
        .elb
        .describe_load_balancer_policies()
        .load_balancer_name(&lb_name)
        .policy_names("deployer-tls-TLS-1-2-2017-01")
        .send()
        .await
        .unwrap();
    let reference = policies.policy_descriptions()[0]
        .policy_attribute_descriptions()
        .iter()
        .find(|a| a.attribute_name() == Some("Reference-Security-Policy"))
        .and_then(|a| a.attribute_value())
        .map(str::to_string);
    assert_eq!(
        reference.as_deref(),
        Some("ELBSecurityPolicy-TLS-1-2-2017-01")
    );
    let health = lb.health_check().unwrap();
    assert_eq!(
        (
            health.target(),
            health.timeout(),
            health.interval(),
            health.unhealthy_threshold(),
            health.healthy_threshold()
        ),
        ("HTTP:80/health", 59, 60, 2, 2)
    );
    assert_eq!(lb.security_groups(), [group_id("lb")]);
    assert_eq!(lb.scheme(), Some("internet-facing"));
    let attributes = load_balancer_attributes(&aws, &stack).await;
    assert!(attributes.cross_zone_load_balancing().unwrap().enabled());
    assert_eq!(
        attributes.connection_settings().unwrap().idle_timeout(),
        300
    );
    let draining = attributes.connection_draining().unwrap();
    assert!(draining.enabled());
    assert_eq!(draining.timeout(), Some(300));
    let desync = attributes
        .additional_attributes()
        .iter()
        .find(|a| a.key() == Some("elb.http.desyncmitigationmode"))
        .and_then(|a| a.value());
    assert_eq!(desync, Some("defensive"));

    // Launch template: IMDSv2, no public IP, encrypted volume, the instance profile, and user
    // data with the real endpoints and secret ARNs but never a secret value.
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_name(format!("{stack}-node"))
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    assert_eq!(data.image_id(), Some("ami-760aaa0f"));
    assert_eq!(
        data.metadata_options()
            .unwrap()
            .http_tokens()
            .map(|t| t.as_str()),
        Some("required")
    );
    let interface = &data.network_interfaces()[0];
    assert_eq!(interface.associate_public_ip_address(), Some(false));
    assert_eq!(interface.groups(), [group_id("nodes")]);
    let ebs = data.block_device_mappings()[0].ebs().unwrap();
    assert_eq!(ebs.encrypted(), Some(true));
    assert_eq!(ebs.volume_size(), Some(40));
    assert_eq!(
        data.iam_instance_profile().unwrap().name(),
        Some(format!("{stack}-node-{REGION}").as_str())
    );
    let user_data = user_data(&aws, &stack).await;
    for expected in [
        format!("DATABASE_HOST={db_host}"),
        "DATABASE_PORT=5432".to_string(),
        format!("DATABASE_SECRET_ARN={master_secret}"),
        format!("REDIS_HOST={cache_host}"),
        "REDIS_PORT=6379".to_string(),
        format!("REDIS_AUTH_SECRET_ARN={auth_arn}"),
        format!("DEPLOYER_STACK={stack}"),
        "NODE_PORTS=80,8080".to_string(),
    ] {
        assert!(
            user_data.contains(&expected),
            "{expected} not in:\n{user_data}"
        );
    }
    assert!(
        !user_data.contains(&token),
        "the AUTH token leaked into user data"
    );
    assert!(
        !applied.all().contains(&token),
        "the AUTH token was printed"
    );

    // The role may read exactly this stack's secrets (its other statements, logs and Session
    // Manager, are tests/integration/logs.rs's).
    let policy: Value = crate::logs::node_policy(&aws, &stack).await;
    let resources: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Action"] == "secretsmanager:GetSecretValue")
        .map(|s| s["Resource"].as_str().unwrap())
        .collect();
    assert_eq!(
        resources,
        vec![
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:rds!db-*".to_string(),
            format!(
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:deployer/{stack}/cache-auth-token-??????"
            ),
        ]
    );
    let profile = aws
        .iam
        .get_instance_profile()
        .instance_profile_name(format!("{stack}-node-{REGION}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        profile.instance_profile().unwrap().roles()[0].role_name(),
        format!("{stack}-node-{REGION}")
    );

    // The group: ELB health checks, the template version, the subnets, instances in service.
    let group = group(&aws, &stack).await;
    assert_eq!(
        (group.min_size(), group.max_size(), group.desired_capacity()),
        (Some(2), Some(6), Some(2))
    );
    assert_eq!(group.health_check_type(), Some("ELB"));
    assert_eq!(group.health_check_grace_period(), Some(300));
    assert_eq!(group.load_balancer_names(), std::slice::from_ref(&lb_name));
    assert_eq!(group.launch_template().unwrap().version(), Some("1"));
    let zones: BTreeSet<&str> = group
        .availability_zones()
        .iter()
        .map(String::as_str)
        .collect();
    assert!(zones.len() >= 2, "{zones:?}");
    assert_eq!(group.instances().len(), 2);
    let health = aws
        .elb
        .describe_instance_health()
        .load_balancer_name(&lb_name)
        .send()
        .await
        .unwrap();
    let in_service = health
        .instance_states()
        .iter()
        .filter(|s| s.state() == Some("InService"))
        .count();
    assert_eq!(in_service, 2);

    // Plan is now empty, and so is a second apply.
    let plan = project.run(&["plan", "--detailed-exitcode", "--out", "after.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
    let saved = std::fs::read_to_string(project.path().join("after.plan")).unwrap();
    assert!(
        !saved.contains(&token),
        "the AUTH token was written to a plan file"
    );
    // With nothing to do, apply does not even take the lock: another run's lock does not stop it.
    crate::lock::foreign_lock(&project.stack, 600).await;
    let again = project.run(&["apply", "--yes"]).ok();
    assert!(again.stdout.contains("No changes"), "{}", again.all());
    assert!(!again.stderr.contains("created"), "{}", again.all());
    project.run(&["unlock", "--yes"]).ok();

    // Destroy leaves nothing tagged, keeps a final snapshot, and is idempotent.
    let destroyed = project.run(&["destroy", "--yes"]).ok();
    assert!(
        destroyed
            .stdout
            .contains(&format!("nothing tagged deployer:stack={stack} remains")),
        "{}",
        destroyed.all()
    );
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
    let snapshots = aws
        .rds
        .describe_db_snapshots()
        .db_instance_identifier(format!("{stack}-db"))
        .snapshot_type("manual")
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.db_snapshots().len(), 1);
    assert!(
        snapshots.db_snapshots()[0]
            .db_snapshot_identifier()
            .unwrap()
            .starts_with(&format!("{stack}-db-final-"))
    );
    let twice = project.run(&["destroy", "--yes"]).ok();
    assert!(
        twice.stdout.contains("Nothing to destroy"),
        "{}",
        twice.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_profile_value_is_planned_and_applied_in_place() {
    let aws = clients().await;
    let project = Project::new("change", "");
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();

    project.write_profile(
        "[load_balancer]\nidle_timeout = 120\n[database]\nbackup_retention_days = 10\n[cache]\nnode_type = \"cache.m7g.large\"\n[scaling]\nmax = 8\n",
    );
    let plan = project.run(&["plan", "--output", "json", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let mut changes: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "none")
        .flat_map(|s| {
            let resource = s["resource"].as_str().unwrap().to_string();
            let action = s["action"].as_str().unwrap().to_string();
            s["changes"].as_array().unwrap().iter().map(move |c| {
                format!(
                    "{action} {resource}: {} {} -> {}",
                    c["attribute"].as_str().unwrap(),
                    c["old"],
                    c["new"]
                )
            })
        })
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        vec![
            format!("update auto scaling group {stack}-nodes: max_size 6 -> 8"),
            format!(
                "update cache {stack}-cache: node_type \"cache.m6g.large\" -> \"cache.m7g.large\""
            ),
            format!("update database {stack}-db: backup_retention_days 7 -> 10"),
            format!("update load balancer {stack}-lb: idle_timeout 300 -> 120"),
        ]
    );

    // The node type change replaces the cache's nodes (a failover): with --yes alone, nobody
    // confirmed it, so nothing at all is changed.
    let refused = project.run(&["apply", "--yes"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains(&format!(
            "cache {stack}-cache: node_type (replaces the nodes"
        )) && refused.stderr.contains("--allow-disruption")
            && refused.stdout.contains("! replaces the nodes"),
        "{}",
        refused.all()
    );
    assert_eq!(
        load_balancer_attributes(&aws, &stack)
            .await
            .connection_settings()
            .unwrap()
            .idle_timeout(),
        300
    );

    project.run(&["apply", "--yes", "--allow-disruption"]).ok();
    let attributes = load_balancer_attributes(&aws, &stack).await;
    assert_eq!(
        attributes.connection_settings().unwrap().idle_timeout(),
        120
    );
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(format!("{stack}-db"))
        .send()
        .await
        .unwrap();
    assert_eq!(db.db_instances()[0].backup_retention_period(), Some(10));
    let cache = aws
        .elasticache
        .describe_replication_groups()
        .replication_group_id(format!("{stack}-cache"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cache.replication_groups()[0].cache_node_type(),
        Some("cache.m7g.large")
    );
    assert_eq!(group(&aws, &stack).await.max_size(), Some(8));

    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
}

const STATELESS: &str = r#"
[node]
image = "ami-760aaa0f"
instance_type = "t3.micro"

[load_balancer]
health_check = { target = "HTTP:8080/__health" }

[[load_balancer.listeners]]
port = 80
protocol = "HTTP"
instance_port = 8080
allow = ["0.0.0.0/0"]

[scaling]
min = 3
max = 5
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_stateless_stack_needs_no_data_tier_and_out_of_band_deletes_are_recreated() {
    let aws = clients().await;
    let project = Project::standalone("stateless", STATELESS);
    let stack = project.stack.clone();
    let applied = project.run(&["apply", "--yes"]).ok();
    // 6, the log group, and the alarms: their key, their topic, 5 of the balancer and 1 of the
    // group.
    assert!(
        applied.stdout.contains("Apply complete: 15 to create."),
        "{}",
        applied.all()
    );
    let groups = security_groups(&aws, &stack).await;
    assert_eq!(
        groups.keys().cloned().collect::<Vec<_>>(),
        vec![format!("{stack}-lb"), format!("{stack}-nodes")]
    );
    let user_data = user_data(&aws, &stack).await;
    assert!(!user_data.contains("DATABASE_HOST"), "{user_data}");
    assert!(
        user_data.contains("HEALTH_CHECK_PATH=/__health"),
        "{user_data}"
    );

    // The load balancer and a security group rule vanish behind deployer's back.
    aws.elb
        .delete_load_balancer()
        .load_balancer_name(format!("{stack}-lb"))
        .send()
        .await
        .unwrap();
    let (lb_group, _, _) = &groups[&format!("{stack}-lb")];
    aws.ec2
        .revoke_security_group_ingress()
        .group_id(lb_group)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(80)
                .to_port(80)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plan = project.run(&["plan", "--output", "json", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let changed: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "none")
        .map(|s| {
            format!(
                "{} {} drift={}",
                s["action"].as_str().unwrap(),
                s["resource"].as_str().unwrap(),
                s["drift"]
            )
        })
        .collect();
    assert_eq!(
        changed,
        vec![
            format!("update security group {stack}-lb drift=true"),
            format!("create load balancer {stack}-lb drift=false"),
            format!("update auto scaling group {stack}-nodes drift=false"),
        ]
    );
    project.run(&["apply", "--yes"]).ok();
    // The group's instances are registered with the new load balancer.
    let health = aws
        .elb
        .describe_instance_health()
        .load_balancer_name(format!("{stack}-lb"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.instance_states().len(), 3);
    let groups = security_groups(&aws, &stack).await;
    assert!(
        groups[&format!("{stack}-lb")]
            .1
            .contains("tcp 80-80 from 0.0.0.0/0")
    );
    aws.elb
        .describe_load_balancers()
        .load_balancer_names(format!("{stack}-lb"))
        .send()
        .await
        .expect("the load balancer is back");
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);

    project.run(&["destroy", "--yes"]).ok();
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
}
