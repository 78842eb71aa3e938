//! The stack's CloudWatch Logs log group (`/deployer/<stack>`), which the nodes' CloudWatch agent
//! writes their system log and their service's log to (a stream per instance and file), kept
//! `retention_days`. It holds data: a profile that stops shipping logs keeps it; destroy deletes it
//! unless `--keep-logs`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Changes, Mode};
use super::observed::{ObservedResource, Outputs, Status, owned};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext};
use crate::aws::ec2::scanned;
use crate::aws::{Aws, AwsError, fail, gone_is_done};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("log-group", "log group");

/// The attribute plan compares.
pub const RETENTION_DAYS: &str = "retention_days";

/// The retention periods CloudWatch Logs accepts (PutRetentionPolicy).
pub const RETENTIONS: &[i32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub retention_days: i32,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct LogGroups;

impl ResourceKind for LogGroups {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            holds_data: true,
            logs: true,
            ..About::new("CloudWatch Logs log group")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "logs:DescribeLogGroups",
            "logs:ListTagsForResource",
            "logs:CreateLogGroup",
            "logs:TagResource",
            "logs:PutRetentionPolicy",
            "logs:DeleteLogGroup",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        spec: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        Attributes::new()
            .set(RETENTION_DAYS, spec.retention_days, Mode::InPlace)
            .build()
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        Ok(describe(scope.aws, &scope.names.log_group())
            .await?
            .into_iter()
            .collect())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        let found = self.observe(scope).await?;
        Ok(scanned("log group", owned(found, scope.names.stack())))
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let name = &resource.id.name;
        let tags: HashMap<String, String> = context
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // A resumed create finds the group an interrupted one made.
        gone_is_done(
            aws.logs
                .create_log_group()
                .log_group_name(name)
                .set_tags(Some(tags))
                .send()
                .await,
            format!("create log group {name}"),
            &["ResourceAlreadyExistsException"],
        )?;
        retain(aws, name, spec.retention_days).await?;
        Ok(Live::named(name.clone()))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        _changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        retain(context.aws(), &resource.id.name, spec.retention_days).await?;
        Ok(live)
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        let name = &context.id.name;
        gone_is_done(
            context
                .aws()
                .logs
                .delete_log_group()
                .log_group_name(name)
                .send()
                .await,
            format!("delete log group {name}"),
            &["ResourceNotFoundException"],
        )
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        _physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        let aws = context.aws();
        let arn = aws
            .arn("logs", &format!("log-group:{}", context.id.name))
            .await?;
        aws.logs
            .tag_resource()
            .resource_arn(arn)
            .tags(key, value)
            .send()
            .await
            .map(|_| ())
            .map_err(fail(format!("tag log group {}", context.id.name)))
    }

    fn not_visible_yet(&self, error: &AwsError) -> bool {
        error.is("ResourceNotFoundException")
    }
}

async fn retain(aws: &Aws, name: &str, days: i32) -> Result<(), AwsError> {
    aws.logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("set the retention of log group {name}")))
}

/// The group named `name`, if it exists.
async fn find(
    aws: &Aws,
    name: &str,
) -> Result<Option<aws_sdk_cloudwatchlogs::types::LogGroup>, AwsError> {
    let found = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(fail(format!("describe log group {name}")))?;
    Ok(found
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .cloned())
}

async fn describe(aws: &Aws, name: &str) -> Result<Option<ObservedResource>, AwsError> {
    let Some(group) = find(aws, name).await? else {
        return Ok(None);
    };
    // The ARN without the `:*` of its streams, which the tagging calls take.
    let arn = match group.log_group_arn() {
        Some(arn) => arn.to_string(),
        None => aws.arn("logs", &format!("log-group:{name}")).await?,
    };
    let tags = aws
        .logs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(fail(format!("read the tags of log group {name}")))?
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut a = Map::new();
    a.insert(RETENTION_DAYS.into(), json!(group.retention_in_days()));
    Ok(Some(ObservedResource {
        id: id(name),
        physical_id: name.to_string(),
        tags,
        attributes: a,
        status: Status::Ready,
        outputs: Outputs::default(),
    }))
}
