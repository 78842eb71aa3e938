//! The stack's alarms: each with its metric, dimensions, threshold and actions; the encrypted topic
//! they notify and its subscriptions; the group metrics the group alarm needs; `status`; and a
//! profile that turns them off or changes who is told.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::MetricAlarm;

use crate::harness::{Clients, Project, clients};

/// The stack's alarms by name.
async fn alarms(aws: &Clients, stack: &str) -> BTreeMap<String, MetricAlarm> {
    aws.cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("{stack}/"))
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap().to_string(), a.clone()))
        .collect()
}

async fn topic_arn(aws: &Clients, stack: &str) -> Option<String> {
    aws.sns
        .list_topics()
        .send()
        .await
        .unwrap()
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn())
        .find(|arn| arn.ends_with(&format!(":{stack}-alarms")))
        .map(str::to_string)
}

async fn subscriptions(aws: &Clients, topic: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = aws
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .send()
        .await
        .unwrap()
        .subscriptions()
        .iter()
        .map(|s| {
            (
                s.protocol().unwrap_or_default().to_string(),
                s.endpoint().unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

/// An alarm as expected: (name after the stack's prefix, namespace, metric, its one dimension,
/// statistic, comparison, threshold).
type Expected<'a> = (
    String,
    &'a str,
    &'a str,
    (&'a str, String),
    &'a str,
    &'a str,
    f64,
);

fn dimensions(alarm: &MetricAlarm) -> Vec<(String, String)> {
    alarm
        .dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap().to_string(),
                d.value().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_is_watched_by_its_alarms_which_tell_the_encrypted_topic() {
    let aws = clients().await;
    let project = Project::new(
        "alarms",
        r#"[alarms]
notify = ["ops@example.com", "https://hooks.example.com/alarms"]
latency_seconds = 2.5
minutes = 3
"#,
    );
    let stack = project.stack.clone();
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());

    let topic = topic_arn(&aws, &stack).await.expect("the alarm topic");
    let attributes = aws
        .sns
        .get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap()
        .attributes()
        .cloned()
        .unwrap();
    let alias = format!("alias/deployer/{stack}/alarms");
    assert_eq!(attributes.get("KmsMasterKeyId"), Some(&alias));
    assert_eq!(
        subscriptions(&aws, &topic).await,
        [
            ("email".to_string(), "ops@example.com".to_string()),
            (
                "https".to_string(),
                "https://hooks.example.com/alarms".to_string()
            ),
        ]
    );
    // The key is the stack's own, and CloudWatch may use it for the stack's alarms.
    let key = aws
        .kms
        .describe_key()
        .key_id(&alias)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let policy: serde_json::Value = serde_json::from_str(
        aws.kms
            .get_key_policy()
            .key_id(&key)
            .policy_name("default")
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap(),
    )
    .unwrap();
    let cloudwatch = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com")
        .expect("a statement for CloudWatch");
    assert_eq!(
        cloudwatch["Action"],
        serde_json::json!(["kms:Decrypt", "kms:GenerateDataKey*"])
    );
    assert!(
        cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":alarm:{stack}/*"))
    );

    // Every alarm: metric, dimension, statistic, comparison and threshold, over `minutes`.
    let found = alarms(&aws, &stack).await;
    let lb = ("LoadBalancerName", format!("{stack}-lb"));
    let db = ("DBInstanceIdentifier", format!("{stack}-db"));
    let node = |n: u32| ("CacheClusterId", format!("{stack}-cache-{n:03}"));
    let mib = 1024.0 * 1024.0;
    let mut expected: Vec<Expected> = vec![
        (
            "lb-unhealthy-hosts".into(),
            "AWS/ELB",
            "UnHealthyHostCount",
            lb.clone(),
            "Maximum",
            "GreaterThanThreshold",
            0.0,
        ),
        // The group's minimum (prod.toml's 2).
        (
            "lb-healthy-hosts".into(),
            "AWS/ELB",
            "HealthyHostCount",
            lb.clone(),
            "Minimum",
            "LessThanThreshold",
            2.0,
        ),
        (
            "lb-backend-5xx".into(),
            "AWS/ELB",
            "HTTPCode_Backend_5XX",
            lb.clone(),
            "Sum",
            "GreaterThanThreshold",
            10.0,
        ),
        (
            "lb-5xx".into(),
            "AWS/ELB",
            "HTTPCode_ELB_5XX",
            lb.clone(),
            "Sum",
            "GreaterThanThreshold",
            10.0,
        ),
        (
            "lb-latency".into(),
            "AWS/ELB",
            "Latency",
            lb.clone(),
            "Average",
            "GreaterThanThreshold",
            2.5,
        ),
        (
            "db-cpu".into(),
            "AWS/RDS",
            "CPUUtilization",
            db.clone(),
            "Average",
            "GreaterThanThreshold",
            80.0,
        ),
        // 10 % of prod.toml's 250 GiB.
        (
            "db-free-storage".into(),
            "AWS/RDS",
            "FreeStorageSpace",
            db.clone(),
            "Minimum",
            "LessThanThreshold",
            25.0 * 1024.0 * mib,
        ),
        (
            "db-free-memory".into(),
            "AWS/RDS",
            "FreeableMemory",
            db.clone(),
            "Average",
            "LessThanThreshold",
            256.0 * mib,
        ),
    ];
    for n in 1..=2 {
        for (what, metric, statistic, threshold) in [
            ("cpu", "EngineCPUUtilization", "Average", 90.0),
            ("memory", "DatabaseMemoryUsagePercentage", "Average", 80.0),
            ("evictions", "Evictions", "Sum", 0.0),
        ] {
            expected.push((
                format!("cache-{n:03}-{what}"),
                "AWS/ElastiCache",
                metric,
                node(n),
                statistic,
                "GreaterThanThreshold",
                threshold,
            ));
        }
    }
    let mut names: Vec<String> = expected
        .iter()
        .map(|e| format!("{stack}/{}", e.0))
        .collect();
    names.push(format!("{stack}/nodes-in-service"));
    names.sort();
    assert_eq!(found.keys().cloned().collect::<Vec<_>>(), names);
    for (what, namespace, metric, dimension, statistic, comparison, threshold) in &expected {
        let alarm = &found[&format!("{stack}/{what}")];
        assert_eq!(alarm.namespace(), Some(*namespace), "{what}");
        assert_eq!(alarm.metric_name(), Some(*metric), "{what}");
        assert_eq!(
            dimensions(alarm),
            [(dimension.0.to_string(), dimension.1.clone())],
            "{what}"
        );
        assert_eq!(
            alarm.statistic().map(|s| s.as_str()),
            Some(*statistic),
            "{what}"
        );
        assert_eq!(alarm.period(), Some(60), "{what}");
        assert_eq!(
            alarm.comparison_operator().map(|c| c.as_str()),
            Some(*comparison),
            "{what}"
        );
        assert_eq!(alarm.threshold(), Some(*threshold), "{what}");
        assert_eq!(alarm.evaluation_periods(), Some(3), "{what}");
        assert_eq!(alarm.datapoints_to_alarm(), Some(3), "{what}");
        assert_eq!(
            alarm.alarm_actions(),
            std::slice::from_ref(&topic),
            "{what}"
        );
        assert_eq!(alarm.ok_actions(), std::slice::from_ref(&topic), "{what}");
    }
    // The group: desired minus in service, from the metrics the group now publishes.
    let group = &found[&format!("{stack}/nodes-in-service")];
    let queries = group.metrics();
    let expression = queries.iter().find_map(|q| q.expression());
    assert_eq!(expression, Some("desired - in_service"));
    let watched: Vec<(&str, &str)> = queries
        .iter()
        .filter_map(|q| {
            let stat = q.metric_stat()?;
            Some((stat.metric()?.metric_name()?, stat.stat()?))
        })
        .collect();
    assert_eq!(
        watched,
        [
            ("GroupDesiredCapacity", "Maximum"),
            ("GroupInServiceInstances", "Minimum")
        ]
    );
    let enabled: Vec<String> = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{stack}-nodes"))
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .enabled_metrics()
        .iter()
        .filter_map(|m| m.metric().map(str::to_string))
        .collect();
    assert!(
        enabled.contains(&"GroupDesiredCapacity".to_string())
            && enabled.contains(&"GroupInServiceInstances".to_string()),
        "{enabled:?}"
    );

    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let status = project.run(&["status"]);
    assert_eq!(status.code, 0, "{}", status.all());
    assert!(
        status.stdout.contains("Alarms (15, ")
            && status.stdout.contains(&format!("{stack}/lb-latency")),
        "{}",
        status.stdout
    );

    // Who is told changes in place; a threshold too.
    project.write_profile(
        r#"[alarms]
notify = ["ops@example.com", "oncall@example.com"]
minutes = 3
"#,
    );
    let plan = project.run(&["plan"]);
    assert!(
        plan.stdout.contains(&format!("alarm topic {stack}-alarms"))
            && plan.stdout.contains(&format!("alarm {stack}/lb-latency"))
            && plan.stdout.contains("2 to update"),
        "{}",
        plan.all()
    );
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert_eq!(
        subscriptions(&aws, &topic).await,
        [
            ("email".to_string(), "oncall@example.com".to_string()),
            ("email".to_string(), "ops@example.com".to_string()),
        ]
    );
    let latency = &alarms(&aws, &stack).await[&format!("{stack}/lb-latency")];
    assert_eq!(latency.threshold(), Some(1.0));

    // Off: the alarms, the topic and the key go; the group stops publishing its metrics.
    project.write_profile("[alarms]\nenabled = false\n");
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert!(alarms(&aws, &stack).await.is_empty());
    assert_eq!(topic_arn(&aws, &stack).await, None);
    let aliased = aws.kms.describe_key().key_id(&alias).send().await;
    assert!(aliased.is_err(), "the alias is gone: {aliased:?}");
    assert_eq!(
        key_state(&aws, &key).await,
        Some(aws_sdk_kms::types::KeyState::PendingDeletion)
    );
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());

    let destroyed = project.run(&["destroy", "--yes"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_leaves_no_alarm_topic_or_usable_key() {
    let aws = clients().await;
    let project = Project::new("alarmsgone", "");
    let stack = project.stack.clone();
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert_eq!(alarms(&aws, &stack).await.len(), 15);
    let destroyed = project.run(&["destroy", "--yes"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert!(alarms(&aws, &stack).await.is_empty());
    assert_eq!(topic_arn(&aws, &stack).await, None);
    let alias = aws
        .kms
        .describe_key()
        .key_id(format!("alias/deployer/{stack}/alarms"))
        .send()
        .await;
    assert!(alias.is_err(), "{alias:?}");
}

/// What a run killed between CreateKey and CreateAlias leaves: a key tagged for `stack` that no
/// alias names.
async fn orphan_key(aws: &Clients, stack: &str) -> String {
    let tag = |key: &str, value: &str| {
        aws_sdk_kms::types::Tag::builder()
            .tag_key(key)
            .tag_value(value)
            .build()
            .unwrap()
    };
    aws.kms
        .create_key()
        .tags(tag("deployer:stack", stack))
        .tags(tag("deployer:component", "alarm-key"))
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string()
}

async fn key_state(aws: &Clients, key: &str) -> Option<aws_sdk_kms::types::KeyState> {
    aws.kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_state()
        .cloned()
}

/// A run killed between CreateKey and CreateAlias leaves the stack a tagged key no alias names:
/// the next apply adopts it rather than leaving it to cost a dollar a month for ever.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_an_interrupted_run_left_without_its_alias_is_adopted() {
    let aws = clients().await;
    let project = Project::new("orphankey", "");
    let stack = project.stack.clone();
    let orphan = orphan_key(&aws, &stack).await;
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    let aliased = aws
        .kms
        .describe_key()
        .key_id(format!("alias/deployer/{stack}/alarms"))
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    assert_eq!(aliased, orphan);
    let destroyed = project.run(&["destroy", "--yes", "--skip-final-snapshot"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert_eq!(
        key_state(&aws, &orphan).await,
        Some(aws_sdk_kms::types::KeyState::PendingDeletion)
    );
}

/// The same orphan, and a destroy before any apply: the key is found by its tags and deleted.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_left_without_its_alias_goes_with_a_destroy_before_any_apply() {
    let aws = clients().await;
    let project = Project::new("orphangone", "");
    let stack = project.stack.clone();
    let orphan = orphan_key(&aws, &stack).await;
    let plan = project.run(&["plan"]);
    assert!(
        plan.stdout.contains(&format!(
            "alarm topic key alias/deployer/{stack}/alarms: update"
        )),
        "{}",
        plan.stdout
    );
    let destroyed = project.run(&["destroy", "--yes"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert_eq!(
        key_state(&aws, &orphan).await,
        Some(aws_sdk_kms::types::KeyState::PendingDeletion)
    );
}
