//! The KMS key that encrypts the alarm topic, known by its alias (`alias/deployer/<stack>/alarms`).
//!
//! A customer managed key because CloudWatch cannot publish to a topic encrypted with AWS's own
//! `alias/aws/sns`: that key's policy cannot be changed to let cloudwatch.amazonaws.com use it
//! (SNS developer guide, "Enable compatibility between event sources from AWS services and
//! encrypted topics"). Its policy lets the account administer it and CloudWatch, on behalf of this
//! account's alarms, generate and decrypt data keys. Deleting it schedules its deletion after
//! AWS's shortest waiting period (7 days) and removes the alias at once; a key pending deletion is
//! gone for the stack. A create first looks for a key of the stack that no alias names (a run that
//! died between CreateKey and CreateAlias: KMS takes no client token), by its tags, and adopts it.

use std::collections::BTreeMap;

use aws_sdk_kms::types::{KeyState, Tag};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::attributes::{Attribute, Attributes, Changes, Mode};
use super::observed::{ObservedResource, Outputs, Status};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext};
use crate::aws::{Aws, AwsError, fail, gone_is_done};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("alarm-key", "alarm topic key");

/// The attribute plan compares: the alias that names the key (missing on a key a run left
/// between CreateKey and CreateAlias, which apply then names).
pub const ALIAS: &str = "alias";

/// The days a deleted key waits before AWS destroys it: the shortest AWS allows.
pub const DELETION_WINDOW_DAYS: i32 = 7;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub description: String,
    /// The key policy (JSON).
    pub policy: String,
}

pub fn id(alias: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, alias)
}

/// The key policy: the account administers the key (as KMS's default policy does, so IAM
/// policies govern it), and CloudWatch may use it for the account's alarms in the region.
pub fn policy(partition: &str, account: &str, region: &str, alarm_prefix: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "CloudWatchAlarmsPublishToTheTopic",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {
                        "aws:SourceArn": format!("arn:{partition}:cloudwatch:{region}:{account}:alarm:{alarm_prefix}*")
                    }
                }
            }
        ]
    })
    .to_string()
}

pub struct AlarmKeys;

impl ResourceKind for AlarmKeys {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About::new("KMS customer managed key (with its alias)")
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "kms:DescribeKey",
            "kms:ListAliases",
            "tag:GetResources",
            "kms:CreateKey",
            "kms:TagResource",
            "kms:CreateAlias",
            "kms:UpdateAlias",
            "kms:DeleteAlias",
            "kms:ScheduleKeyDeletion",
        ]
    }

    fn attributes(
        &self,
        resource: &Resource,
        _spec: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        Attributes::new()
            .set(ALIAS, resource.id.name.as_str(), Mode::InPlace)
            .build()
    }

    /// The key the alias names; without one, a key of the stack that no alias names (found by
    /// its tags), so that apply names it and destroy deletes it.
    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let alias = scope.names.alarm_key();
        let aliased = describe(scope.aws, &alias)
            .await?
            .filter(|key| key.usable)
            .map(|key| (key.arn, json!(alias)));
        let found = match aliased {
            Some(found) => Some(found),
            None => unaliased(scope.aws, scope.names.stack())
                .await?
                .into_iter()
                .next()
                .map(|arn| (arn, Value::Null)),
        };
        Ok(found
            .map(|(arn, named)| {
                let mut attributes = Map::new();
                attributes.insert(ALIAS.into(), named);
                ObservedResource {
                    id: id(&alias),
                    physical_id: arn,
                    // The alias (and the tags of a key without one) are the stack's alone.
                    tags: owned_by(scope.names.stack()),
                    attributes,
                    status: Status::Ready,
                    outputs: Outputs::default(),
                }
            })
            .into_iter()
            .collect())
    }

    /// The alias, onto a key an interrupted run left without it.
    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        _spec: &Spec,
        changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        if changes.has(ALIAS) {
            let moves = describe(context.aws(), &resource.id.name).await?.is_some();
            point_alias(context, &resource.id.name, &live.physical_id, moves).await?;
        }
        Ok(live)
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let alias = &resource.id.name;
        let existing = describe(aws, alias).await?;
        if let Some(key) = &existing
            && key.usable
        {
            return Ok(Live::named(key.arn.clone()));
        }
        // A run that died between CreateKey and CreateAlias left the stack a key no alias names:
        // it is adopted, not made again (KMS takes no client token).
        let (key_id, arn) = match unaliased(aws, context.stack()).await?.into_iter().next() {
            Some(arn) => {
                context.status("adopting the key an interrupted run created");
                (arn.clone(), arn)
            }
            None => {
                let mut request = aws
                    .kms
                    .create_key()
                    .description(&spec.description)
                    .policy(&spec.policy);
                for (key, value) in &context.tags {
                    request = request.tags(
                        Tag::builder()
                            .tag_key(key)
                            .tag_value(value)
                            .build()
                            .expect("a tag has a key and a value"),
                    );
                }
                let created = request
                    .send()
                    .await
                    .map_err(fail(format!("create the KMS key of {alias}")))?;
                let metadata = created.key_metadata();
                let key_id = metadata.map(|m| m.key_id()).unwrap_or_default().to_string();
                let arn = metadata
                    .and_then(|m| m.arn())
                    .unwrap_or(&key_id)
                    .to_string();
                (key_id, arn)
            }
        };
        // An alias left on a key pending deletion (an interrupted destroy) moves to the new key.
        point_alias(context, alias, &key_id, existing.is_some()).await?;
        Ok(Live::named(arn))
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let aws = context.aws();
        let alias = &context.id.name;
        let key = describe(aws, alias).await?;
        // The key the alias names, else the key without an alias that was observed.
        let target = match (&key, live) {
            (Some(key), _) if key.usable => Some(key.arn.clone()),
            (None, Some(live)) if live.physical_id.starts_with("arn:") => {
                Some(live.physical_id.clone())
            }
            _ => None,
        };
        // The key's deletion first: the alias is how a resumed destroy finds the key.
        if let Some(arn) = target {
            // Pending deletion already (KMSInvalidStateException), or gone.
            gone_is_done(
                aws.kms
                    .schedule_key_deletion()
                    .key_id(&arn)
                    .pending_window_in_days(DELETION_WINDOW_DAYS)
                    .send()
                    .await,
                format!("schedule the deletion of {alias}'s key"),
                &["KMSInvalidStateException", "NotFoundException"],
            )?;
        }
        if key.is_none() {
            return Ok(());
        }
        gone_is_done(
            aws.kms.delete_alias().alias_name(alias).send().await,
            format!("delete alias {alias}"),
            &["NotFoundException"],
        )
    }

    /// Tagged in its create call; the alias stands for ownership afterwards.
    async fn tag(
        &self,
        _context: &StepContext<'_>,
        _physical_id: &str,
        _key: &str,
        _value: &str,
    ) -> Result<(), AwsError> {
        Ok(())
    }
}

/// Point `alias` at `key`: a new alias, or (`moves`) one that named another key. A new key may
/// not be visible to the alias call yet (NotFoundException): that call is tried again, never the
/// key's creation.
async fn point_alias(
    context: &StepContext<'_>,
    alias: &str,
    key: &str,
    moves: bool,
) -> Result<(), AwsError> {
    let aws = context.aws();
    context
        .retry("the key to be visible", || async {
            let sent = if moves {
                aws.kms
                    .update_alias()
                    .alias_name(alias)
                    .target_key_id(key)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(fail(format!("point {alias} at its key")))
            } else {
                aws.kms
                    .create_alias()
                    .alias_name(alias)
                    .target_key_id(key)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(fail(format!("create alias {alias}")))
            };
            match sent {
                Ok(()) => Ok(true),
                Err(error) if error.is("NotFoundException") => Ok(false),
                Err(error) => Err(error),
            }
        })
        .await
}

pub(super) fn owned_by(stack: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(crate::ids::tags::TAG_STACK.to_string(), stack.to_string())])
}

/// The stack's usable alarm keys that no alias names, by ARN: found by their tags in one
/// paginated call of the Resource Groups Tagging API (KMS lists keys without their tags).
async fn unaliased(aws: &Aws, stack: &str) -> Result<Vec<String>, AwsError> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;
    let mut tagged = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .tagging
            .get_resources()
            .resource_type_filters("kms:key")
            .tag_filters(
                TagFilter::builder()
                    .key(crate::ids::tags::TAG_STACK)
                    .values(stack)
                    .build(),
            )
            .tag_filters(
                TagFilter::builder()
                    .key(crate::ids::tags::TAG_COMPONENT)
                    .values("alarm-key")
                    .build(),
            )
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(fail("find the stack's KMS keys by their tags"))?;
        tagged.extend(
            page.resource_tag_mapping_list()
                .iter()
                .filter_map(|m| m.resource_arn().map(str::to_string)),
        );
        match page.pagination_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => break,
        }
    }
    if tagged.is_empty() {
        return Ok(tagged);
    }
    let mut aliased = std::collections::BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        let page = aws
            .kms
            .list_aliases()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(fail("list the account's KMS aliases"))?;
        aliased.extend(
            page.aliases()
                .iter()
                .filter_map(|a| a.target_key_id().map(str::to_string)),
        );
        match page.next_marker().filter(|_| page.truncated()) {
            Some(next) => marker = Some(next.to_string()),
            None => break,
        }
    }
    let mut ours = Vec::new();
    for arn in tagged {
        let id = arn.rsplit('/').next().unwrap_or_default();
        if aliased.contains(id) {
            continue;
        }
        // Pending deletion (an earlier destroy's) is not usable.
        let usable = aws
            .kms
            .describe_key()
            .key_id(&arn)
            .send()
            .await
            .ok()
            .and_then(|found| {
                found.key_metadata().map(|m| {
                    !matches!(
                        m.key_state(),
                        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
                    )
                })
            })
            .unwrap_or(false);
        if usable {
            ours.push(arn);
        }
    }
    Ok(ours)
}

/// The key an alias points at.
struct Key {
    arn: String,
    /// Neither pending deletion nor disabled.
    usable: bool,
}

async fn describe(aws: &Aws, alias: &str) -> Result<Option<Key>, AwsError> {
    match aws.kms.describe_key().key_id(alias).send().await {
        Ok(found) => Ok(found.key_metadata().map(|m| Key {
            arn: m.arn().unwrap_or(m.key_id()).to_string(),
            usable: !matches!(
                m.key_state(),
                Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
            ),
        })),
        Err(error) => {
            let error = fail(format!("describe the KMS key {alias}"))(error);
            if error.is("NotFoundException") {
                Ok(None)
            } else {
                Err(error)
            }
        }
    }
}
