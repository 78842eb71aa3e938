//! Reading back what deployer created, through the AWS API, in forms easy to assert on.

use std::collections::{BTreeMap, BTreeSet};

use crate::harness::{Clients, REGION};

/// The subnets matching one EC2 filter (`default-for-az` = `true`, `cidr-block` = ...), in
/// Availability Zone order.
pub async fn subnets_where(
    aws: &Clients,
    name: &str,
    value: &str,
) -> Vec<aws_sdk_ec2::types::Subnet> {
    let found = aws
        .ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(name)
                .values(value)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut subnets = found.subnets().to_vec();
    subnets.sort_by_key(|s| s.availability_zone().unwrap_or_default().to_string());
    subnets
}

/// Security groups of the stack by name: (id, canonical ingress rules, tags).
pub type SecurityGroups = BTreeMap<String, (String, BTreeSet<String>, BTreeMap<String, String>)>;

pub async fn security_groups(aws: &Clients, stack: &str) -> SecurityGroups {
    let found = aws
        .ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:deployer:stack")
                .values(stack)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let names: BTreeMap<String, String> = found
        .security_groups()
        .iter()
        .map(|g| {
            (
                g.group_id().unwrap().to_string(),
                g.group_name().unwrap().to_string(),
            )
        })
        .collect();
    found
        .security_groups()
        .iter()
        .map(|g| {
            let mut rules = BTreeSet::new();
            for p in g.ip_permissions() {
                let ports = format!(
                    "{} {}-{}",
                    p.ip_protocol().unwrap_or("?"),
                    p.from_port().unwrap_or(-1),
                    p.to_port().unwrap_or(-1)
                );
                for range in p.ip_ranges() {
                    rules.insert(format!("{ports} from {}", range.cidr_ip().unwrap()));
                }
                for pair in p.user_id_group_pairs() {
                    let id = pair.group_id().unwrap();
                    let name = names.get(id).cloned().unwrap_or(id.to_string());
                    rules.insert(format!("{ports} from {name}"));
                }
            }
            let tags = g
                .tags()
                .iter()
                .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
                .collect();
            (
                g.group_name().unwrap().to_string(),
                (g.group_id().unwrap().to_string(), rules, tags),
            )
        })
        .collect()
}

/// IAM returns policy documents URL-encoded.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Everything the scan of a destroy should find nothing of: (what, id).
pub async fn tagged_leftovers(aws: &Clients, stack: &str) -> Vec<String> {
    let mut left = Vec::new();
    for (name, _) in security_groups(aws, stack).await {
        left.push(format!("security group {name}"));
    }
    let groups = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{stack}-nodes"))
        .send()
        .await
        .unwrap();
    if !groups.auto_scaling_groups().is_empty() {
        left.push("auto scaling group".into());
    }
    if let Ok(tags) = aws
        .elb
        .describe_tags()
        .load_balancer_names(format!("{stack}-lb"))
        .send()
        .await
        && tags
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .any(|t| t.key() == "deployer:stack" && t.value() == Some(stack))
    {
        left.push("load balancer".into());
    }
    if aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(format!("{stack}-db"))
        .send()
        .await
        .is_ok()
    {
        left.push("database".into());
    }
    if aws
        .elasticache
        .describe_replication_groups()
        .replication_group_id(format!("{stack}-cache"))
        .send()
        .await
        .is_ok()
    {
        left.push("cache".into());
    }
    if aws
        .iam
        .get_role()
        .role_name(format!("{stack}-node-{REGION}"))
        .send()
        .await
        .is_ok()
    {
        left.push("role".into());
    }
    if aws
        .secrets
        .describe_secret()
        .secret_id(format!("deployer/{stack}/cache-auth-token"))
        .send()
        .await
        .is_ok_and(|s| s.deleted_date().is_none())
    {
        left.push("secret".into());
    }
    let templates = aws
        .ec2
        .describe_launch_templates()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:deployer:stack")
                .values(stack)
                .build(),
        )
        .send()
        .await
        .unwrap();
    if !templates.launch_templates().is_empty() {
        left.push("launch template".into());
    }
    let images = aws
        .ec2
        .describe_images()
        .owners("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:deployer:stack")
                .values(stack)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for image in images.images() {
        left.push(format!("image {}", image.image_id().unwrap()));
    }
    let snapshots = aws
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:deployer:stack")
                .values(stack)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for snapshot in snapshots.snapshots() {
        left.push(format!("snapshot {}", snapshot.snapshot_id().unwrap()));
    }
    let instances = aws
        .ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:deployer:stack")
                .values(stack)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopping")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .unwrap();
    for reservation in instances.reservations() {
        for instance in reservation.instances() {
            left.push(format!("instance {}", instance.instance_id().unwrap()));
        }
    }
    // What watches and records the stack: its alarms, their topic and key, its log bucket.
    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("{stack}/"))
        .send()
        .await
        .unwrap();
    for alarm in alarms.metric_alarms() {
        left.push(format!("alarm {}", alarm.alarm_name().unwrap()));
    }
    let topics = aws.sns.list_topics().send().await.unwrap();
    if topics
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn())
        .any(|arn| arn.ends_with(&format!(":{stack}-alarms")))
    {
        left.push("alarm topic".into());
    }
    let key = aws
        .kms
        .describe_key()
        .key_id(format!("alias/deployer/{stack}/alarms"))
        .send()
        .await;
    if key.is_ok_and(|k| {
        k.key_metadata().and_then(|m| m.key_state())
            != Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
    }) {
        left.push("alarm key".into());
    }
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/deployer/{stack}"))
        .send()
        .await
        .unwrap();
    if groups
        .log_groups()
        .iter()
        .any(|g| g.log_group_name() == Some(format!("/deployer/{stack}").as_str()))
    {
        left.push("log group".into());
    }
    let bucket = format!("{stack}-logs-000000000000-{REGION}");
    if crate::logs::s3()
        .await
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .is_ok()
    {
        left.push("access log bucket".into());
    }
    left
}

/// The stack's Auto Scaling Group.
pub async fn group(aws: &Clients, stack: &str) -> aws_sdk_autoscaling::types::AutoScalingGroup {
    auto_scaling_group(aws, &format!("{stack}-nodes"))
        .await
        .unwrap()
}

/// The Auto Scaling Group named `name`, if it exists.
pub async fn auto_scaling_group(
    aws: &Clients,
    name: &str,
) -> Option<aws_sdk_autoscaling::types::AutoScalingGroup> {
    aws.autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()
        .first()
        .cloned()
}

/// The stack's database instance.
pub async fn database(aws: &Clients, stack: &str) -> aws_sdk_rds::types::DbInstance {
    aws.rds
        .describe_db_instances()
        .db_instance_identifier(format!("{stack}-db"))
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .clone()
}

/// The stack's load balancer.
pub async fn load_balancer(
    aws: &Clients,
    stack: &str,
) -> aws_sdk_elasticloadbalancing::types::LoadBalancerDescription {
    aws.elb
        .describe_load_balancers()
        .load_balancer_names(format!("{stack}-lb"))
        .send()
        .await
        .unwrap()
        .load_balancer_descriptions()[0]
        .clone()
}

/// The stack's load balancer attributes.
pub async fn load_balancer_attributes(
    aws: &Clients,
    stack: &str,
) -> aws_sdk_elasticloadbalancing::types::LoadBalancerAttributes {
    aws.elb
        .describe_load_balancer_attributes()
        .load_balancer_name(format!("{stack}-lb"))
        .send()
        .await
        .unwrap()
        .load_balancer_attributes()
        .unwrap()
        .clone()
}

/// The user data of the newest version of the stack's launch template.
pub async fn user_data(aws: &Clients, stack: &str) -> String {
    template_user_data(aws, &format!("{stack}-node")).await
}

/// The user data of the newest version of launch template `name`.
pub async fn template_user_data(aws: &Clients, name: &str) -> String {
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_name(name)
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    String::from_utf8(aws_smithy_types::base64::decode(data.user_data().unwrap()).unwrap()).unwrap()
}

/// An EC2 filter on a tag.
pub fn tag(key: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// The stack's images: name -> (id, state, tags, snapshot ids).
pub type Images = BTreeMap<String, (String, String, BTreeMap<String, String>, Vec<String>)>;

pub async fn images(aws: &Clients, stack: &str) -> Images {
    let found = aws
        .ec2
        .describe_images()
        .owners("self")
        .filters(tag("deployer:stack", stack))
        .send()
        .await
        .unwrap();
    found
        .images()
        .iter()
        .map(|i| {
            (
                i.name().unwrap().to_string(),
                (
                    i.image_id().unwrap().to_string(),
                    i.state().unwrap().as_str().to_string(),
                    i.tags()
                        .iter()
                        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
                        .collect(),
                    i.block_device_mappings()
                        .iter()
                        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
                        .map(str::to_string)
                        .collect(),
                ),
            )
        })
        .collect()
}

/// A certificate the emulator issues (HTTPS listeners need one it knows), once it is ISSUED:
/// like ACM, the emulator validates a requested certificate after a few seconds, and plan
/// refuses one that is still pending.
pub async fn certificate(aws: &Clients, domain: &str) -> String {
    let arn = pending_certificate(aws, domain).await;
    issued(&aws.acm, &arn).await;
    arn
}

/// A certificate just requested: PENDING_VALIDATION for a few seconds.
pub async fn pending_certificate(aws: &Clients, domain: &str) -> String {
    aws.acm
        .request_certificate()
        .domain_name(domain)
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_string()
}

/// Wait (up to a minute) until ACM shows the certificate ISSUED.
pub async fn issued(acm: &aws_sdk_acm::Client, arn: &str) {
    for _ in 0..120 {
        let found = acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .unwrap();
        if found
            .certificate()
            .and_then(|c| c.status())
            .is_some_and(|s| s.as_str() == "ISSUED")
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("certificate {arn} was never issued");
}
