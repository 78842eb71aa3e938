//! The nodes' IAM policy: what the nodes may read of the stack, where they may write their logs,
//! and Session Manager.

use super::Environment;
use crate::ids::names::Names;

/// The nodes may read exactly this stack's secrets: the RDS-managed master secret of the stack's
/// database and the cache AUTH token.
pub(super) fn node_policy(
    profile: &crate::profile::schema::Profile,
    names: &Names,
    env: &Environment,
) -> serde_json::Value {
    let secrets = format!(
        "arn:{}:secretsmanager:{}:{}:secret",
        env.partition, env.region, env.account
    );
    let mut statements = Vec::new();
    if profile.database.is_some() {
        statements.push(serde_json::json!({
            "Sid": "ReadDatabaseMasterSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": format!("{secrets}:rds!db-*"),
            "Condition": {"StringEquals": {
                "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn":
                    format!("arn:{}:rds:{}:{}:db:{}", env.partition, env.region, env.account, names.database())
            }}
        }));
    }
    if profile
        .cache
        .as_ref()
        .is_some_and(|c| c.encryption_in_transit)
    {
        statements.push(serde_json::json!({
            "Sid": "ReadCacheAuthToken",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": format!("{secrets}:{}-??????", names.cache_auth_secret()),
        }));
    }
    if profile.logs.enabled {
        // The CloudWatch agent: its streams in the stack's group, and nothing else.
        let group = format!(
            "arn:{}:logs:{}:{}:log-group:{}",
            env.partition,
            env.region,
            env.account,
            names.log_group()
        );
        statements.push(serde_json::json!({
            "Sid": "WriteStackLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [group.clone(), format!("{group}:log-stream:*")],
        }));
    }
    if profile.ssm {
        // What the SSM agent needs for Session Manager ("Step 2: Verify or add instance
        // permissions for Session Manager", Systems Manager user guide).
        statements.push(serde_json::json!({
            "Sid": "SessionManager",
            "Effect": "Allow",
            "Action": [
                "ssm:UpdateInstanceInformation",
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel"
            ],
            "Resource": "*",
        }));
    }
    if statements.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}
