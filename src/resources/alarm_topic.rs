//! The SNS topic the stack's alarms notify (`<stack>-alarms`), encrypted with the stack's alarm
//! key, with the subscriptions `[alarms] notify` lists.
//!
//! An email or https subscription waits for its endpoint to confirm it; AWS cannot delete one
//! that is pending and deletes it itself after 48 hours (SNS developer guide, "Deleting an Amazon
//! SNS subscription and topic"). So a pending subscription the profile no longer lists is left
//! to expire, and counts as desired until then; a confirmed one is unsubscribed.

use std::collections::BTreeSet;

use aws_sdk_sns::types::Tag;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Changes, Mode, sorted};
use super::observed::owned;
use super::observed::{Observed, ObservedResource, Outputs, Status};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext, alarm_key};
use crate::aws::ec2::scanned;
use crate::aws::{Aws, AwsError, fail, gone_is_done};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("alarm-topic", "alarm topic");

/// The attributes plan compares.
pub const KMS_KEY: &str = "kms_key";
pub const SUBSCRIPTIONS: &str = "subscriptions";
/// Observed only: the endpoints whose subscription is pending confirmation.
pub const PENDING: &str = "pending";

/// What a subscription's ARN is while its endpoint has not confirmed it.
const PENDING_ARN: &str = "PendingConfirmation";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The alias of the key that encrypts it.
    pub kms_key: String,
    /// The endpoints told of every alarm: email addresses and https URLs.
    pub subscriptions: Vec<String>,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct AlarmTopics;

impl ResourceKind for AlarmTopics {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            // Alarms name it by ARN.
            shown_by_name: true,
            ..About::new("SNS topic (with its subscriptions)")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "sns:GetTopicAttributes",
            "sns:ListSubscriptionsByTopic",
            "sns:ListTagsForResource",
            "sns:CreateTopic",
            "sns:TagResource",
            "sns:SetTopicAttributes",
            "sns:Subscribe",
            "sns:Unsubscribe",
            "sns:DeleteTopic",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        spec: &Spec,
        _known: Known<'_>,
        live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        // A pending subscription cannot be removed: it stays until AWS expires it.
        let pending = live
            .and_then(|l| l.attributes.get(PENDING))
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Attributes::new()
            .set(KMS_KEY, spec.kms_key.as_str(), Mode::InPlace)
            .set(
                SUBSCRIPTIONS,
                sorted(spec.subscriptions.iter().cloned().chain(pending)),
                Mode::InPlace,
            )
            .build()
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        super::names_in(live, KMS_KEY, alarm_key::KIND, observed)
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let name = scope.names.alarm_topic();
        let aws = scope.aws;
        // A topic's ARN is its name's: no listing of the account's topics.
        let arn = aws.arn("sns", &name).await?;
        let attributes = aws.sns.get_topic_attributes().topic_arn(&arn).send().await;
        let attributes = match attributes {
            Ok(found) => found.attributes().cloned().unwrap_or_default(),
            Err(error) => {
                let error = fail(format!("describe topic {name}"))(error);
                return if error.is("NotFound") {
                    Ok(vec![])
                } else {
                    Err(error)
                };
            }
        };
        let (subscriptions, tags) = tokio::join!(
            list_subscriptions(aws, &arn),
            aws.sns.list_tags_for_resource().resource_arn(&arn).send(),
        );
        let subscriptions = subscriptions?;
        let tags = tags
            .map_err(fail(format!("read the tags of topic {name}")))?
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let mut a = Map::new();
        a.insert(
            KMS_KEY.into(),
            json!(
                attributes
                    .get("KmsMasterKeyId")
                    .cloned()
                    .unwrap_or_default()
            ),
        );
        a.insert(
            SUBSCRIPTIONS.into(),
            sorted(subscriptions.iter().map(|s| s.endpoint.clone())),
        );
        a.insert(
            PENDING.into(),
            sorted(
                subscriptions
                    .iter()
                    .filter(|s| s.arn == PENDING_ARN)
                    .map(|s| s.endpoint.clone()),
            ),
        );
        Ok(vec![ObservedResource {
            id: id(&name),
            physical_id: arn,
            tags,
            attributes: a,
            status: Status::Ready,
            outputs: Outputs::default(),
        }])
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        let found = self.observe(scope).await?;
        Ok(scanned("alarm topic", owned(found, scope.names.stack())))
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let name = &resource.id.name;
        // CreateTopic answers the existing topic's ARN when its attributes and tags are the same:
        // a resumed create adopts what an interrupted one made.
        let mut request = aws
            .sns
            .create_topic()
            .name(name)
            .attributes("KmsMasterKeyId", &spec.kms_key);
        for (key, value) in &context.tags {
            request = request.tags(
                Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .expect("a tag has a key and a value"),
            );
        }
        let created = request
            .send()
            .await
            .map_err(fail(format!("create topic {name}")))?;
        let arn = created.topic_arn().unwrap_or_default().to_string();
        let live = list_subscriptions(aws, &arn).await?;
        subscribe_missing(aws, &arn, &spec.subscriptions, &live).await?;
        Ok(Live::named(arn))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        _resource: &Resource,
        spec: &Spec,
        changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let arn = &live.physical_id;
        if changes.has(KMS_KEY) {
            aws.sns
                .set_topic_attributes()
                .topic_arn(arn)
                .attribute_name("KmsMasterKeyId")
                .attribute_value(&spec.kms_key)
                .send()
                .await
                .map_err(fail(format!("set the key of topic {}", context.id.name)))?;
        }
        let subscribed = list_subscriptions(aws, arn).await?;
        subscribe_missing(aws, arn, &spec.subscriptions, &subscribed).await?;
        let wanted: BTreeSet<&str> = spec.subscriptions.iter().map(String::as_str).collect();
        for old in subscribed
            .iter()
            .filter(|s| !wanted.contains(s.endpoint.as_str()))
        {
            if old.arn == PENDING_ARN {
                context.status(&format!(
                    "{} has not confirmed its subscription: AWS removes it within 48 hours",
                    old.endpoint
                ));
                continue;
            }
            gone_is_done(
                aws.sns
                    .unsubscribe()
                    .subscription_arn(&old.arn)
                    .send()
                    .await,
                format!("unsubscribe {}", old.endpoint),
                &["NotFound"],
            )?;
        }
        Ok(live)
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        let aws = context.aws();
        let arn = match live {
            Some(live) => live.physical_id.clone(),
            None => aws.arn("sns", &context.id.name).await?,
        };
        // Its subscriptions go with it. Deleting a topic that is gone succeeds.
        gone_is_done(
            aws.sns.delete_topic().topic_arn(&arn).send().await,
            format!("delete topic {}", context.id.name),
            &["NotFound"],
        )
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        context
            .aws()
            .sns
            .tag_resource()
            .resource_arn(physical_id)
            .tags(
                Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .expect("a tag has a key and a value"),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(fail(format!("tag topic {}", context.id.name)))
    }

    fn not_visible_yet(&self, error: &AwsError) -> bool {
        error.is("NotFound")
    }
}

struct Subscription {
    arn: String,
    endpoint: String,
}

async fn list_subscriptions(aws: &Aws, topic: &str) -> Result<Vec<Subscription>, AwsError> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(fail(format!("list the subscriptions of {topic}")))?;
        all.extend(page.subscriptions().iter().map(|s| Subscription {
            arn: s.subscription_arn().unwrap_or_default().to_string(),
            endpoint: s.endpoint().unwrap_or_default().to_string(),
        }));
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(all),
        }
    }
}

/// Subscribe each endpoint of `wanted` that `live` lacks.
async fn subscribe_missing(
    aws: &Aws,
    topic: &str,
    wanted: &[String],
    live: &[Subscription],
) -> Result<(), AwsError> {
    for endpoint in wanted {
        if live.iter().any(|s| &s.endpoint == endpoint) {
            continue;
        }
        let protocol = crate::profile::alarms::protocol(endpoint)
            .map_err(|(message, _)| AwsError::other(format!("subscribe {endpoint}"), message))?;
        aws.sns
            .subscribe()
            .topic_arn(topic)
            .protocol(protocol)
            .endpoint(endpoint)
            .send()
            .await
            .map_err(fail(format!("subscribe {endpoint} to the alarm topic")))?;
    }
    Ok(())
}
