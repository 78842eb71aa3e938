//! The load balancer's access logs: the bucket deployer creates for them (public access blocked,
//! encrypted, expired, the region's log delivery allowed), the balancer's attribute, and destroy,
//! which empties and deletes the bucket unless `--keep-logs`.

use aws_sdk_s3::primitives::ByteStream;

use crate::harness::{Project, REGION, sdk_config};

pub async fn s3() -> aws_sdk_s3::Client {
    let config = sdk_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

async fn bucket_exists(s3: &aws_sdk_s3::Client, bucket: &str) -> bool {
    s3.head_bucket().bucket(bucket).send().await.is_ok()
}

async fn objects(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    s3.list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn access_logs_go_to_a_private_encrypted_expiring_bucket_that_destroy_keeps_only_when_asked()
{
    let aws = crate::harness::clients().await;
    let s3 = s3().await;
    // prod.toml (which local.toml extends) turns access logs on.
    let project = Project::new("logs", "");
    let stack = project.stack.clone();
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    let bucket = format!("{stack}-logs-000000000000-{REGION}");
    assert!(bucket_exists(&s3, &bucket).await, "{}", applied.stdout);

    let block = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap()
        .public_access_block_configuration()
        .cloned()
        .unwrap();
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let algorithm = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .and_then(|r| r.apply_server_side_encryption_by_default())
        .map(|d| d.sse_algorithm().as_str().to_string());
    assert_eq!(algorithm.as_deref(), Some("AES256"));
    let expiry = |rules: &[aws_sdk_s3::types::LifecycleRule]| {
        rules
            .iter()
            .filter_map(|r| r.expiration().and_then(|e| e.days()))
            .collect::<Vec<_>>()
    };
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(expiry(lifecycle.rules()), [90]);
    let policy: serde_json::Value = serde_json::from_str(
        s3.get_bucket_policy()
            .bucket(&bucket)
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap(),
    )
    .unwrap();
    let delivery = &policy["Statement"][0];
    // us-east-1's Elastic Load Balancing account writes the logs.
    assert_eq!(
        delivery["Principal"]["AWS"],
        "arn:aws:iam::127311923021:root"
    );
    assert_eq!(delivery["Action"], "s3:PutObject");
    assert_eq!(
        delivery["Resource"],
        format!("arn:aws:s3:::{bucket}/{stack}-lb/AWSLogs/000000000000/*")
    );

    // The balancer writes there, every 60 minutes.
    let attributes = aws
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_name(format!("{stack}-lb"))
        .send()
        .await
        .unwrap();
    let log = attributes
        .load_balancer_attributes()
        .and_then(|a| a.access_log())
        .cloned()
        .unwrap();
    assert!(log.enabled());
    assert_eq!(log.s3_bucket_name(), Some(bucket.as_str()));
    assert_eq!(log.s3_bucket_prefix(), Some(format!("{stack}-lb").as_str()));
    assert_eq!(log.emit_interval(), Some(60));

    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());

    // A shorter retention is changed in place.
    project.write_profile("[load_balancer.access_logs]\nretention_days = 30\n");
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert!(
        applied.stdout.contains("retention_days: 90 -> 30"),
        "{}",
        applied.stdout
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(expiry(lifecycle.rules()), [30]);

    // A log file, as the balancer writes them.
    let key = format!("{stack}-lb/AWSLogs/000000000000/elasticloadbalancing/{REGION}/log.log");
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(ByteStream::from_static(
            b"2026-12-04T02:00:00Z shop-lb 1.2.3.4:5 ...",
        ))
        .send()
        .await
        .unwrap();

    // --keep-logs keeps exactly the bucket, logs and all.
    let destroyed = project.run(&["destroy", "--yes", "--skip-final-snapshot", "--keep-logs"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert!(
        destroyed.stdout.contains(&format!(
            "Kept: the logs (--keep-logs) {bucket}, /deployer/{stack}"
        )),
        "{}",
        destroyed.stdout
    );
    assert!(bucket_exists(&s3, &bucket).await);
    assert_eq!(objects(&s3, &bucket).await, [key]);
    let left = crate::check::tagged_leftovers(&aws, &stack).await;
    assert_eq!(
        left,
        ["log group", "access log bucket"],
        "only the logs stay"
    );

    // Without it, destroy empties the bucket and deletes it.
    let destroyed = project.run(&["destroy", "--yes"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert!(!bucket_exists(&s3, &bucket).await, "{}", destroyed.all());
}

/// The nodes' inline policy, parsed.
pub async fn node_policy(aws: &crate::harness::Clients, stack: &str) -> serde_json::Value {
    let found = aws
        .iam
        .get_role_policy()
        .role_name(format!("{stack}-node-{REGION}"))
        .policy_name("deployer-read-stack-secrets")
        .send()
        .await
        .unwrap();
    serde_json::from_str(&crate::check::decode(found.policy_document())).unwrap()
}

fn statement<'a>(policy: &'a serde_json::Value, sid: &str) -> Option<&'a serde_json::Value> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_write_to_the_stacks_log_group_only_and_open_to_session_manager() {
    let aws = crate::harness::clients().await;
    let project = Project::new("nodelogs", "[logs]\nretention_days = 14\n");
    let stack = project.stack.clone();
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    let group_name = format!("/deployer/{stack}");
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&group_name)
        .send()
        .await
        .unwrap();
    let group = groups
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(group_name.as_str()))
        .expect("the stack's log group");
    assert_eq!(group.retention_in_days(), Some(14));
    let tags = aws
        .logs
        .list_tags_for_resource()
        .resource_arn(group.log_group_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags().and_then(|t| t.get("deployer:stack")),
        Some(&stack)
    );

    let policy = node_policy(&aws, &stack).await;
    let logs = statement(&policy, "WriteStackLogs").expect("the log statement");
    assert_eq!(
        logs["Resource"],
        serde_json::json!([
            format!("arn:aws:logs:{REGION}:000000000000:log-group:{group_name}"),
            format!("arn:aws:logs:{REGION}:000000000000:log-group:{group_name}:log-stream:*"),
        ])
    );
    let ssm = statement(&policy, "SessionManager").expect("the Session Manager statement");
    assert!(
        ssm["Action"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("ssmmessages:OpenDataChannel")),
        "{ssm}"
    );
    let status = project.run(&["status"]);
    assert_eq!(status.code, 0, "{}", status.all());
    assert!(
        status
            .stdout
            .contains("shell: aws ssm start-session --target i-")
            && status.stdout.contains(&format!("--region {REGION}")),
        "{}",
        status.stdout
    );
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());

    // Off: the role loses both; the group, which holds the logs, is kept.
    project.write_profile("ssm = false\n[logs]\nenabled = false\nretention_days = 14\n");
    let plan = project.run(&["plan"]);
    assert!(
        plan.stdout
            .contains(&format!("log group {group_name}: keep")),
        "{}",
        plan.stdout
    );
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    let policy = node_policy(&aws, &stack).await;
    assert!(statement(&policy, "WriteStackLogs").is_none(), "{policy}");
    assert!(statement(&policy, "SessionManager").is_none(), "{policy}");
    let status = project.run(&["status"]);
    assert!(!status.stdout.contains("shell:"), "{}", status.stdout);

    let destroyed = project.run(&["destroy", "--yes", "--skip-final-snapshot"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert_eq!(
        crate::check::tagged_leftovers(&aws, &stack).await,
        Vec::<String>::new()
    );
}
