//! Secrets Manager: the cache AUTH token deployer generates and keeps. Its value goes only to
//! ElastiCache; it is never printed, logged or written to a plan.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::Map;

use super::{Aws, AwsError, fail, tag_map};
use crate::plan::observed::{ObservedResource, Outputs, Status};
use crate::stack::spec::{Kind, ResourceId};

fn not_found(error: &AwsError) -> bool {
    error.is("ResourceNotFoundException")
}

/// The secret, unless absent or scheduled for deletion (a create restores those).
pub async fn observe(aws: &Aws, name: &str) -> Result<Option<ObservedResource>, AwsError> {
    let found = match aws.secrets.describe_secret().secret_id(name).send().await {
        Ok(found) => found,
        Err(error) => {
            let error = fail(format!("describe secret {name}"))(error);
            return if not_found(&error) {
                Ok(None)
            } else {
                Err(error)
            };
        }
    };
    if found.deleted_date().is_some() {
        return Ok(None);
    }
    let arn = found.arn().unwrap_or_default().to_string();
    Ok(Some(ObservedResource {
        id: ResourceId::new(Kind::CacheAuthSecret, name),
        physical_id: arn.clone(),
        tags: tag_map(found.tags().iter().map(|t| (t.key(), t.value()))),
        attributes: Map::new(),
        status: Status::Ready,
        outputs: Outputs {
            arn: Some(arn),
            ..Outputs::default()
        },
    }))
}

/// A new AUTH token: 64 letters and digits (ElastiCache allows 16 to 128 printable characters).
fn new_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 64)
}

/// Create the secret with a fresh token, or adopt (restoring if scheduled for deletion) the one
/// a previous run created. Returns its ARN.
pub async fn create(
    aws: &Aws,
    name: &str,
    description: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let what = format!("create secret {name}");
    let secret_tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let created = aws
        .secrets
        .create_secret()
        .name(name)
        .description(description)
        .secret_string(new_token())
        .set_tags(Some(secret_tags))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.arn().unwrap_or_default().to_string()),
        Err(error) => {
            let error = fail(what.clone())(error);
            if !(error.is("ResourceExistsException") || error.is("InvalidRequestException")) {
                return Err(error);
            }
            let described = aws
                .secrets
                .describe_secret()
                .secret_id(name)
                .send()
                .await
                .map_err(fail(what.clone()))?;
            let live_tags = tag_map(described.tags().iter().map(|t| (t.key(), t.value())));
            let key = crate::stack::naming::TAG_STACK;
            if live_tags.get(key) != tags.get(key) {
                return Err(error);
            }
            if described.deleted_date().is_some() {
                aws.secrets
                    .restore_secret()
                    .secret_id(name)
                    .send()
                    .await
                    .map_err(fail(what))?;
            }
            Ok(described.arn().unwrap_or_default().to_string())
        }
    }
}

/// The secret's value, to hand to the service that needs it.
pub async fn value(aws: &Aws, arn: &str) -> Result<String, AwsError> {
    let found = aws
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(fail(format!("read secret {arn}")))?;
    found.secret_string().map(str::to_string).ok_or_else(|| {
        AwsError::other(
            format!("read secret {arn}"),
            "the secret has no string value",
        )
    })
}

/// Delete at once (no recovery window): the cache it guarded is gone.
pub async fn delete(aws: &Aws, name: &str) -> Result<(), AwsError> {
    match aws
        .secrets
        .delete_secret()
        .secret_id(name)
        .force_delete_without_recovery(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("delete secret {name}"))(error);
            if not_found(&error) {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}

/// Secrets tagged for the stack, for destroy's final scan.
pub async fn tagged(aws: &Aws, stack: &str) -> Result<Vec<(String, String)>, AwsError> {
    let found = aws
        .secrets
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::TagKey)
                .values(crate::stack::naming::TAG_STACK)
                .build(),
        )
        .filters(
            Filter::builder()
                .key(FilterNameStringType::TagValue)
                .values(stack)
                .build(),
        )
        .send()
        .await
        .map_err(fail("scan secrets"))?;
    Ok(found
        .secret_list()
        .iter()
        .filter(|s| s.deleted_date().is_none())
        .filter(|s| {
            s.tags().iter().any(|t| {
                t.key() == Some(crate::stack::naming::TAG_STACK) && t.value() == Some(stack)
            })
        })
        .map(|s| {
            (
                format!("secret {}", s.name().unwrap_or_default()),
                s.arn().unwrap_or_default().to_string(),
            )
        })
        .collect())
}
