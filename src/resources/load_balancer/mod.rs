//! The Classic Elastic Load Balancer: listeners (e.g. 443 -> 80), a health check, idle timeout,
//! cross-zone balancing, connection draining, desync mitigation, stickiness and a TLS policy.
//! The stack's public balancer, and an internal one for each extra node group that has one.

mod configure;
mod observe;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attributes::{Attribute, Attributes, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext, security_group};
use crate::aws::{AwsError, fail};
use crate::ids::{Kind, ResourceId};
use crate::profile::schema::{DesyncMitigation, Protocol, Scheme};
use crate::resources::quota::{Quota, QuotaUse};

pub use configure::{Certificate, InstanceHealth, certificates, health_target, instance_health};

pub const KIND: Kind = Kind::new("load-balancer", "load balancer");

/// The attributes plan compares.
pub const SCHEME: &str = "scheme";
pub const SUBNETS: &str = "subnets";
pub const SECURITY_GROUPS: &str = "security_groups";
pub const LISTENERS: &str = "listeners";
pub const HEALTH_CHECK: &str = "health_check";
pub const IDLE_TIMEOUT: &str = "idle_timeout";
pub const CROSS_ZONE: &str = "cross_zone";
pub const CONNECTION_DRAINING: &str = "connection_draining";
pub const DESYNC_MITIGATION: &str = "desync_mitigation";
pub const STICKINESS: &str = "stickiness";
pub const TLS_POLICY: &str = "tls_policy";
pub const ACCESS_LOG: &str = "access_log";

const DESYNC_KEY: &str = "elb.http.desyncmitigationmode";
const TLS_PREFIX: &str = "deployer-tls-";
const STICKY_PREFIX: &str = "deployer-sticky-";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerSpec {
    pub port: i32,
    pub protocol: Protocol,
    pub instance_port: i32,
    pub instance_protocol: Protocol,
    pub certificate: Option<String>,
}

impl ListenerSpec {
    /// The canonical text the plan compares, e.g. `443 HTTPS -> 80 HTTP (arn:...)`.
    pub fn canonical(&self) -> String {
        let mut text = format!(
            "{} {} -> {} {}",
            self.port,
            self.protocol.as_str(),
            self.instance_port,
            self.instance_protocol.as_str()
        );
        if let Some(certificate) = &self.certificate {
            text.push_str(&format!(" ({certificate})"));
        }
        text
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckSpec {
    pub target: String,
    pub interval: i32,
    pub timeout: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
}

impl HealthCheckSpec {
    pub fn canonical(&self) -> String {
        format!(
            "{} every {}s, timeout {}s, healthy {}, unhealthy {}",
            self.target,
            self.interval,
            self.timeout,
            self.healthy_threshold,
            self.unhealthy_threshold
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub scheme: Scheme,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub listeners: Vec<ListenerSpec>,
    pub health_check: HealthCheckSpec,
    pub idle_timeout: i32,
    pub cross_zone: bool,
    /// Connection draining timeout in seconds, or None when draining is off.
    pub connection_draining: Option<i32>,
    pub desync_mitigation: DesyncMitigation,
    /// Load-balancer cookie stickiness: None off, Some(None) session cookie, Some(Some(s)) expiry.
    pub stickiness: Option<Option<i64>>,
    pub tls_policy: String,
    /// Where it writes its access logs; None: it writes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLogSpec>,
}

/// Access logs: the bucket, the prefix of the keys and the minutes between files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessLogSpec {
    pub bucket: String,
    pub prefix: String,
    pub interval: i32,
}

/// An access log setting as plan shows and compares it.
pub fn access_log_text(log: Option<&AccessLogSpec>) -> String {
    match log {
        Some(log) => format!(
            "s3://{}/{} every {} min",
            log.bucket, log.prefix, log.interval
        ),
        None => "off".to_string(),
    }
}

impl Spec {
    /// The name of the SSL negotiation policy deployer creates for `tls_policy`.
    pub fn tls_policy_name(&self) -> String {
        format!(
            "{TLS_PREFIX}{}",
            self.tls_policy.trim_start_matches("ELBSecurityPolicy-")
        )
    }

    /// The name of the cookie stickiness policy.
    pub fn stickiness_policy_name(&self) -> Option<String> {
        self.stickiness.map(|expiry| match expiry {
            Some(seconds) => format!("{STICKY_PREFIX}{seconds}"),
            None => format!("{STICKY_PREFIX}session"),
        })
    }
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

/// The DNS name of the load balancer `id`, once it exists.
pub fn dns_name(known: Known<'_>, id: &ResourceId) -> Option<String> {
    known
        .get(id)
        .and_then(|live| live.outputs.endpoint.as_ref())
        .map(|(dns, _)| dns.clone())
}

pub fn draining_text(timeout: Option<i32>) -> String {
    match timeout {
        Some(seconds) => format!("on, {seconds}s"),
        None => "off".into(),
    }
}

pub fn stickiness_text(stickiness: Option<Option<i64>>) -> String {
    match stickiness {
        None => "off".into(),
        Some(None) => "load balancer cookie, session".into(),
        Some(Some(seconds)) => format!("load balancer cookie, {seconds}s"),
    }
}

pub struct LoadBalancers;

impl ResourceKind for LoadBalancers {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            per_node_group: true,
            ..About::new("Classic Elastic Load Balancer")
        }
    }

    fn quota_use(&self, _spec: &Spec) -> Vec<QuotaUse> {
        vec![QuotaUse::Count(Quota::ClassicLoadBalancers, 1)]
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeLoadBalancerAttributes",
            "elasticloadbalancing:DescribeTags",
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:CreateLoadBalancerListeners",
            "elasticloadbalancing:DeleteLoadBalancerListeners",
            "elasticloadbalancing:ConfigureHealthCheck",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
            "elasticloadbalancing:CreateLoadBalancerPolicy",
            "elasticloadbalancing:CreateLBCookieStickinessPolicy",
            "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
            "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
            "elasticloadbalancing:AttachLoadBalancerToSubnets",
            "elasticloadbalancing:DetachLoadBalancerFromSubnets",
            "elasticloadbalancing:DeleteLoadBalancer",
            "elasticloadbalancing:DescribeInstanceHealth",
            "ec2:DescribeSubnets",
            // Plan checks that each listener's ACM certificate exists.
            "acm:DescribeCertificate",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        lb: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        use Mode::*;
        let secure = lb.listeners.iter().any(|l| l.protocol.is_secure());
        Attributes::new()
            .set(SCHEME, lb.scheme.as_str(), Replace)
            .set(SUBNETS, sorted(lb.subnets.clone()), InPlace)
            .set(
                SECURITY_GROUPS,
                sorted([lb.security_group.clone()]),
                InPlace,
            )
            .set(
                LISTENERS,
                sorted(lb.listeners.iter().map(ListenerSpec::canonical)),
                InPlace,
            )
            .set(HEALTH_CHECK, lb.health_check.canonical(), InPlace)
            .set(IDLE_TIMEOUT, lb.idle_timeout, InPlace)
            .set(CROSS_ZONE, lb.cross_zone, InPlace)
            .set(
                CONNECTION_DRAINING,
                draining_text(lb.connection_draining),
                InPlace,
            )
            .set(DESYNC_MITIGATION, lb.desync_mitigation.as_str(), InPlace)
            .set(STICKINESS, stickiness_text(lb.stickiness), InPlace)
            .set(ACCESS_LOG, access_log_text(lb.access_log.as_ref()), InPlace)
            .set(
                TLS_POLICY,
                if secure {
                    Value::from(lb.tls_policy.as_str())
                } else {
                    Value::Null
                },
                InPlace,
            )
            .build()
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let mut uses = super::names_in(live, SECURITY_GROUPS, security_group::KIND, observed);
        uses.extend(super::names_in(
            live,
            SUBNETS,
            super::subnet::KIND,
            observed,
        ));
        uses
    }

    fn outputs(&self, _id: &ResourceId, live: &Live) -> Vec<(&'static str, String)> {
        live.outputs
            .endpoint
            .iter()
            .map(|(dns, _)| ("load_balancer_dns", dns.clone()))
            .collect()
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let names: Vec<String> = scope
            .node_groups()
            .into_iter()
            .map(|group| group.load_balancer)
            .collect();
        observe::describe(scope.aws, &names).await
    }

    async fn observe_one(
        &self,
        scope: Scope<'_>,
        id: &ResourceId,
    ) -> Result<Option<ObservedResource>, AwsError> {
        Ok(observe::describe(scope.aws, std::slice::from_ref(&id.name))
            .await?
            .into_iter()
            .next())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        configure::tagged(scope.aws, scope.names.stack()).await
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let group = context
            .known
            .require(&security_group::id(&spec.security_group), &resource.id)?;
        let name = &resource.id.name;
        let dns = configure::create(context.aws(), name, spec, &group, &context.tags).await?;
        let mut live = Live::named(name.clone());
        live.outputs.endpoint = Some((dns, 0));
        Ok(live)
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        let group = context
            .known
            .require(&security_group::id(&spec.security_group), &resource.id)?;
        configure::configure(
            context.aws(),
            &resource.id.name,
            spec,
            &group,
            Some(changes),
        )
        .await?;
        Ok(live)
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        configure::delete(context.aws(), &context.id.name).await
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        _physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        let what = format!("tag {}", context.id);
        let tag = aws_sdk_elasticloadbalancing::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|e| AwsError::other(what.clone(), e.to_string()))?;
        context
            .aws()
            .elb
            .add_tags()
            .load_balancer_names(&context.id.name)
            .tags(tag)
            .send()
            .await
            .map(|_| ())
            .map_err(fail(what))
    }

    /// A certificate ACM has just issued or imported is not known to ELB at once: plan already
    /// checked it exists, so ELB's CertificateNotFound here means "not visible yet" (the Terraform
    /// AWS provider retries it on create for the same reason).
    /// A certificate just issued, and a log bucket whose policy was just set: ELB writes a test
    /// file when access logs are turned on, and a policy S3 has not spread yet answers "Access
    /// Denied for bucket" (a wrong policy keeps answering it, and fails once the visibility
    /// timeout is over).
    fn not_visible_yet(&self, error: &AwsError) -> bool {
        error.is("CertificateNotFound")
            || (error.is("InvalidConfigurationRequest")
                && error.message.contains("Access Denied for bucket"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_bucket_policy_not_spread_yet_is_waited_for_and_nothing_else_is() {
        let denied = AwsError::coded(
            "configure load balancer shop-lb",
            "InvalidConfigurationRequest",
            "Access Denied for bucket: shop-logs-123456789012-us-east-1. Please check S3bucket permission",
        );
        assert!(LoadBalancers.not_visible_yet(&denied));
        let other = AwsError::coded(
            "configure load balancer shop-lb",
            "InvalidConfigurationRequest",
            "The requested idle timeout is not valid",
        );
        assert!(!LoadBalancers.not_visible_yet(&other));
        assert!(LoadBalancers.not_visible_yet(&AwsError::coded(
            "create load balancer shop-lb",
            "CertificateNotFound",
            "Certificate not found"
        )));
    }
}
