//! A CloudWatch metric alarm of the stack (`<stack>/<what>`): one metric against a threshold, or
//! a metric math expression over several, notifying the alarm topic when it fires and when it
//! recovers. Alarms are found by their name's prefix, which is the stack's alone; they are tagged
//! in their create call (PutMetricAlarm ignores tags when it updates an alarm).

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, Statistic, Tag,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource, Outputs, Status};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext, alarm_topic};
use crate::aws::{Aws, AwsError, fail, gone_is_done};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("alarm", "alarm");

/// The attributes plan compares.
pub const DESCRIPTION: &str = "description";
pub const METRIC: &str = "metric";
pub const COMPARISON: &str = "comparison";
pub const THRESHOLD: &str = "threshold";
pub const EVALUATION_PERIODS: &str = "evaluation_periods";
pub const DATAPOINTS: &str = "datapoints_to_alarm";
pub const MISSING_DATA: &str = "treat_missing_data";
pub const ALARM_ACTIONS: &str = "alarm_actions";
pub const OK_ACTIONS: &str = "ok_actions";
/// Observed only: what the alarm says now (`OK`, `ALARM`, `INSUFFICIENT_DATA`), and why.
pub const STATE: &str = "state";
pub const STATE_REASON: &str = "state_reason";

/// One metric an alarm watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watched {
    /// Its id in the expression (`m1`); unused by a one-metric alarm.
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    /// `Average`, `Sum`, `Minimum`, `Maximum` or `SampleCount`.
    pub statistic: String,
    /// Seconds.
    pub period: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub description: String,
    /// One metric, or the metrics `expression` combines.
    pub metrics: Vec<Watched>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// AWS's comparison operator, e.g. `GreaterThanThreshold`.
    pub comparison: String,
    pub threshold: f64,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    /// `missing`, `notBreaching`, `breaching` or `ignore`.
    pub treat_missing_data: String,
    /// The alarm topic, by reference: told when the alarm fires and when it recovers.
    pub topic: String,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

/// The metrics an alarm watches, as plan shows and compares them.
pub fn shown(metrics: &[Watched], expression: Option<&str>) -> String {
    let one = |m: &Watched| {
        let dimensions: Vec<String> = m
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{} {} ({}) {} per {} s",
            m.namespace,
            m.name,
            dimensions.join(", "),
            m.statistic,
            m.period
        )
    };
    match expression {
        None => metrics.iter().map(one).collect::<Vec<_>>().join("; "),
        Some(expression) => {
            let terms: Vec<String> = metrics
                .iter()
                .map(|m| format!("{} = {}", m.id, one(m)))
                .collect();
            format!("{expression} where {}", terms.join("; "))
        }
    }
}

pub struct Alarms;

impl ResourceKind for Alarms {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About::new("CloudWatch metric alarm")
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "cloudwatch:DescribeAlarms",
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:TagResource",
            "cloudwatch:DeleteAlarms",
        ]
    }

    fn attributes(
        &self,
        resource: &Resource,
        _spec: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        // The topic by name, as observation shows it.
        let Ok(spec) = resource.named_spec::<Self>() else {
            return vec![];
        };
        Attributes::new()
            .set(DESCRIPTION, spec.description.as_str(), Mode::InPlace)
            .set(
                METRIC,
                shown(&spec.metrics, spec.expression.as_deref()),
                Mode::InPlace,
            )
            .set(COMPARISON, spec.comparison.as_str(), Mode::InPlace)
            .set(THRESHOLD, spec.threshold, Mode::InPlace)
            .set(EVALUATION_PERIODS, spec.evaluation_periods, Mode::InPlace)
            .set(DATAPOINTS, spec.datapoints_to_alarm, Mode::InPlace)
            .set(
                MISSING_DATA,
                spec.treat_missing_data.as_str(),
                Mode::InPlace,
            )
            .set(ALARM_ACTIONS, sorted([spec.topic.clone()]), Mode::InPlace)
            .set(OK_ACTIONS, sorted([spec.topic.clone()]), Mode::InPlace)
            .build()
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        super::names_in(live, ALARM_ACTIONS, alarm_topic::KIND, observed)
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        describe(scope.aws, &scope.names.alarm_prefix(), scope.names.stack()).await
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        Ok(self
            .observe(scope)
            .await?
            .into_iter()
            .map(|a| ("alarm".to_string(), a.id.name))
            .collect())
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        put(context.aws(), &resource.id.name, spec, &context.tags).await?;
        let arn = context
            .aws()
            .arn("cloudwatch", &format!("alarm:{}", resource.id.name))
            .await?;
        Ok(Live::named(arn))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        _changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        put(context.aws(), &resource.id.name, spec, &BTreeMap::new()).await?;
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
                .cloudwatch
                .delete_alarms()
                .alarm_names(name)
                .send()
                .await,
            format!("delete alarm {name}"),
            &["ResourceNotFound", "ResourceNotFoundException"],
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
            .cloudwatch
            .tag_resource()
            .resource_arn(physical_id)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map(|_| ())
            .map_err(fail(format!("tag alarm {}", context.id.name)))
    }
}

/// Create or update the alarm (tags are set only when it is created).
async fn put(
    aws: &Aws,
    name: &str,
    spec: &Spec,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let mut request = aws
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .alarm_description(&spec.description)
        .actions_enabled(true)
        .alarm_actions(&spec.topic)
        .ok_actions(&spec.topic)
        .comparison_operator(ComparisonOperator::from(spec.comparison.as_str()))
        .threshold(spec.threshold)
        .evaluation_periods(spec.evaluation_periods)
        .datapoints_to_alarm(spec.datapoints_to_alarm)
        .treat_missing_data(&spec.treat_missing_data);
    let metric = |m: &Watched| {
        let mut metric = Metric::builder()
            .namespace(&m.namespace)
            .metric_name(&m.name);
        for (key, value) in &m.dimensions {
            metric = metric.dimensions(Dimension::builder().name(key).value(value).build());
        }
        metric.build()
    };
    match &spec.expression {
        None => {
            let m = spec.metrics.first().ok_or_else(|| {
                AwsError::other(format!("set alarm {name}"), "it watches no metric")
            })?;
            request = request
                .namespace(&m.namespace)
                .metric_name(&m.name)
                .statistic(Statistic::from(m.statistic.as_str()))
                .period(m.period);
            for (key, value) in &m.dimensions {
                request = request.dimensions(Dimension::builder().name(key).value(value).build());
            }
        }
        Some(expression) => {
            for m in &spec.metrics {
                request = request.metrics(
                    MetricDataQuery::builder()
                        .id(&m.id)
                        .metric_stat(
                            MetricStat::builder()
                                .metric(metric(m))
                                .period(m.period)
                                .stat(&m.statistic)
                                .build(),
                        )
                        .return_data(false)
                        .build(),
                );
            }
            request = request.metrics(
                MetricDataQuery::builder()
                    .id("e1")
                    .expression(expression)
                    .label(name)
                    .return_data(true)
                    .build(),
            );
        }
    }
    for (key, value) in tags {
        request = request.tags(Tag::builder().key(key).value(value).build());
    }
    request
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("set alarm {name}")))
}

/// The metric alarms whose names start with `prefix` (the stack's, or one alarm's whole name).
async fn describe(aws: &Aws, prefix: &str, stack: &str) -> Result<Vec<ObservedResource>, AwsError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(AlarmType::MetricAlarm)
            .max_records(100)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(fail("describe the stack's alarms"))?;
        for alarm in page.metric_alarms() {
            found.push(observed(alarm, stack));
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(found),
        }
    }
}

fn observed(alarm: &aws_sdk_cloudwatch::types::MetricAlarm, stack: &str) -> ObservedResource {
    let dimensions = |ds: &[Dimension]| -> BTreeMap<String, String> {
        ds.iter()
            .map(|d| {
                (
                    d.name().unwrap_or_default().to_string(),
                    d.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let (metrics, expression) = if alarm.metrics().is_empty() {
        (
            vec![Watched {
                id: String::new(),
                namespace: alarm.namespace().unwrap_or_default().to_string(),
                name: alarm.metric_name().unwrap_or_default().to_string(),
                dimensions: dimensions(alarm.dimensions()),
                statistic: alarm
                    .statistic()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                period: alarm.period().unwrap_or_default(),
            }],
            None,
        )
    } else {
        let metrics = alarm
            .metrics()
            .iter()
            .filter_map(|q| {
                let stat = q.metric_stat()?;
                let metric = stat.metric()?;
                Some(Watched {
                    id: q.id().unwrap_or_default().to_string(),
                    namespace: metric.namespace().unwrap_or_default().to_string(),
                    name: metric.metric_name().unwrap_or_default().to_string(),
                    dimensions: dimensions(metric.dimensions()),
                    statistic: stat.stat().unwrap_or_default().to_string(),
                    period: stat.period().unwrap_or_default(),
                })
            })
            .collect();
        let expression = alarm
            .metrics()
            .iter()
            .find_map(|q| q.expression())
            .map(str::to_string);
        (metrics, expression)
    };
    let name = alarm.alarm_name().unwrap_or_default();
    let mut a = Map::new();
    a.insert(
        DESCRIPTION.into(),
        json!(alarm.alarm_description().unwrap_or_default()),
    );
    a.insert(METRIC.into(), json!(shown(&metrics, expression.as_deref())));
    a.insert(
        COMPARISON.into(),
        json!(alarm.comparison_operator().map(|c| c.as_str())),
    );
    a.insert(THRESHOLD.into(), json!(alarm.threshold()));
    a.insert(EVALUATION_PERIODS.into(), json!(alarm.evaluation_periods()));
    a.insert(
        DATAPOINTS.into(),
        json!(alarm.datapoints_to_alarm().or(alarm.evaluation_periods())),
    );
    a.insert(
        MISSING_DATA.into(),
        json!(alarm.treat_missing_data().unwrap_or("missing")),
    );
    a.insert(
        ALARM_ACTIONS.into(),
        sorted(alarm.alarm_actions().iter().cloned()),
    );
    a.insert(
        OK_ACTIONS.into(),
        sorted(alarm.ok_actions().iter().cloned()),
    );
    a.insert(STATE.into(), json!(alarm.state_value().map(|s| s.as_str())));
    a.insert(STATE_REASON.into(), json!(alarm.state_reason()));
    ObservedResource {
        id: id(name),
        physical_id: alarm.alarm_arn().unwrap_or(name).to_string(),
        // The name's prefix is the stack's alone.
        tags: super::alarm_key::owned_by(stack),
        attributes: a,
        status: Status::Ready,
        outputs: Outputs::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_shows_its_metrics_the_same_way_from_the_profile_and_from_aws() {
        let unhealthy = Watched {
            id: String::new(),
            namespace: "AWS/ELB".into(),
            name: "UnHealthyHostCount".into(),
            dimensions: BTreeMap::from([("LoadBalancerName".into(), "shop-lb".into())]),
            statistic: "Maximum".into(),
            period: 60,
        };
        assert_eq!(
            shown(std::slice::from_ref(&unhealthy), None),
            "AWS/ELB UnHealthyHostCount (LoadBalancerName=shop-lb) Maximum per 60 s"
        );
        let desired = Watched {
            id: "desired".into(),
            name: "GroupDesiredCapacity".into(),
            ..unhealthy.clone()
        };
        let text = shown(&[desired], Some("desired - in_service"));
        assert!(
            text.starts_with("desired - in_service where desired = AWS/ELB GroupDesiredCapacity"),
            "{text}"
        );
    }
}
