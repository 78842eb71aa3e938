//! The nodes' IAM policy: what the nodes may read of the stack.

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
    if statements.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}
