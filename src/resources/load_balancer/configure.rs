//! Creating and configuring load balancers: listeners, health check, attributes, TLS and
//! stickiness policies, security groups and subnets; deleting them; reading instance health.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticloadbalancing::types::{
    AccessLog, AdditionalAttribute, ConnectionDraining, ConnectionSettings, CrossZoneLoadBalancing,
    HealthCheck, Listener, LoadBalancerAttributes, PolicyAttribute, Tag,
};

use super::*;
use crate::aws::{Aws, AwsError, fail};
use crate::profile::schema::Protocol;
use crate::resources::attributes::Changes;

fn listener(spec: &ListenerSpec) -> Result<Listener, AwsError> {
    Listener::builder()
        .protocol(spec.protocol.as_str())
        .load_balancer_port(spec.port)
        .instance_protocol(spec.instance_protocol.as_str())
        .instance_port(spec.instance_port)
        .set_ssl_certificate_id(spec.certificate.clone())
        .build()
        .map_err(|e| AwsError::other("build a listener", e.to_string()))
}

/// Create the load balancer with its listeners, subnets, group and tags, then configure the rest.
/// Adopts a load balancer a previous run created. Returns the DNS name.
pub(super) async fn create(
    aws: &Aws,
    name: &str,
    spec: &Spec,
    security_group_id: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let what = format!("create load balancer {name}");
    let owner = tags.clone();
    let listeners = spec
        .listeners
        .iter()
        .map(listener)
        .collect::<Result<Vec<_>, _>>()?;
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(|e| AwsError::other(what.clone(), e.to_string()))?;
    let created = aws
        .elb
        .create_load_balancer()
        .load_balancer_name(name)
        .set_listeners(Some(listeners))
        .set_subnets(Some(spec.subnets.clone()))
        .security_groups(security_group_id)
        .scheme(spec.scheme.as_str())
        .set_tags(Some(tags))
        .send()
        .await;
    let dns = match created {
        Ok(out) => out.dns_name().unwrap_or_default().to_string(),
        Err(error) => {
            let error = fail(what.clone())(error);
            if !(error.is("DuplicateLoadBalancerName") || error.is("DuplicateAccessPointName")) {
                return Err(error);
            }
            // A previous run created it: adopt it only if it is ours.
            match observe::describe(aws, &[name.to_string()])
                .await?
                .into_iter()
                .next()
            {
                Some(live) if crate::aws::same_owner(&live, &owner) => live
                    .outputs
                    .endpoint
                    .map(|(dns, _)| dns)
                    .unwrap_or_default(),
                _ => return Err(error),
            }
        }
    };
    configure(aws, name, spec, security_group_id, None).await?;
    Ok(dns)
}

/// Bring the load balancer's configuration to `spec`. `only` limits the work to the named
/// attributes (from the plan's changes); None configures everything.
pub(super) async fn configure(
    aws: &Aws,
    name: &str,
    spec: &Spec,
    security_group_id: &str,
    only: Option<Changes<'_>>,
) -> Result<(), AwsError> {
    let wants = |attribute: &str| only.is_none_or(|changes| changes.has(attribute));
    let what = format!("configure load balancer {name}");

    if wants(LISTENERS) && only.is_some() {
        let found = describe(aws, name, &what).await?;
        let live: Vec<(i32, String)> = found
            .load_balancer_descriptions()
            .iter()
            .flat_map(|d| d.listener_descriptions())
            .filter_map(|d| d.listener())
            .map(|l| {
                (
                    l.load_balancer_port(),
                    format!(
                        "{} {} {:?} {}",
                        l.protocol(),
                        l.instance_port(),
                        l.ssl_certificate_id(),
                        l.load_balancer_port()
                    ),
                )
            })
            .collect();
        let wanted: BTreeMap<i32, String> = spec
            .listeners
            .iter()
            .map(|l| {
                (
                    l.port,
                    format!(
                        "{} {} {:?} {}",
                        l.protocol.as_str(),
                        l.instance_port,
                        l.certificate.as_deref(),
                        l.port
                    ),
                )
            })
            .collect();
        let stale: Vec<i32> = live
            .iter()
            .filter(|(port, text)| wanted.get(port) != Some(text))
            .map(|(port, _)| *port)
            .collect();
        if !stale.is_empty() {
            aws.elb
                .delete_load_balancer_listeners()
                .load_balancer_name(name)
                .set_load_balancer_ports(Some(stale.clone()))
                .send()
                .await
                .map_err(fail(what.clone()))?;
        }
        let present: BTreeSet<i32> = live
            .iter()
            .map(|(port, _)| *port)
            .filter(|port| !stale.contains(port))
            .collect();
        let missing = spec
            .listeners
            .iter()
            .filter(|l| !present.contains(&l.port))
            .map(listener)
            .collect::<Result<Vec<_>, _>>()?;
        if !missing.is_empty()
            && let Err(error) = aws
                .elb
                .create_load_balancer_listeners()
                .load_balancer_name(name)
                .set_listeners(Some(missing))
                .send()
                .await
        {
            // A retried call whose first attempt went through finds the listener there.
            let error = fail(what.clone())(error);
            if !error.is("DuplicateListener") {
                return Err(error);
            }
        }
    }

    if wants(HEALTH_CHECK) {
        let check = &spec.health_check;
        let health = HealthCheck::builder()
            .target(&check.target)
            .interval(check.interval)
            .timeout(check.timeout)
            .healthy_threshold(check.healthy_threshold)
            .unhealthy_threshold(check.unhealthy_threshold)
            .build()
            .map_err(|e| AwsError::other(what.clone(), e.to_string()))?;
        aws.elb
            .configure_health_check()
            .load_balancer_name(name)
            .health_check(health)
            .send()
            .await
            .map_err(fail(what.clone()))?;
    }

    if [
        IDLE_TIMEOUT,
        CROSS_ZONE,
        CONNECTION_DRAINING,
        DESYNC_MITIGATION,
        ACCESS_LOG,
    ]
    .iter()
    .any(|a| wants(a))
    {
        let build_error = |e: aws_smithy_types::error::operation::BuildError| {
            AwsError::other(what.clone(), e.to_string())
        };
        let attributes = LoadBalancerAttributes::builder()
            .cross_zone_load_balancing(
                CrossZoneLoadBalancing::builder()
                    .enabled(spec.cross_zone)
                    .build(),
            )
            .connection_draining(
                ConnectionDraining::builder()
                    .enabled(spec.connection_draining.is_some())
                    .set_timeout(spec.connection_draining.or(Some(300)))
                    .build(),
            )
            .connection_settings(
                ConnectionSettings::builder()
                    .idle_timeout(spec.idle_timeout)
                    .build()
                    .map_err(build_error)?,
            )
            .additional_attributes(
                AdditionalAttribute::builder()
                    .key(DESYNC_KEY)
                    .value(spec.desync_mitigation.as_str())
                    .build(),
            )
            .access_log(match &spec.access_log {
                Some(log) => AccessLog::builder()
                    .enabled(true)
                    .s3_bucket_name(&log.bucket)
                    .s3_bucket_prefix(&log.prefix)
                    .emit_interval(log.interval)
                    .build(),
                None => AccessLog::builder().enabled(false).build(),
            })
            .build();
        aws.elb
            .modify_load_balancer_attributes()
            .load_balancer_name(name)
            .load_balancer_attributes(attributes)
            .send()
            .await
            .map_err(fail(what.clone()))?;
    }

    if [LISTENERS, TLS_POLICY, STICKINESS].iter().any(|a| wants(a)) {
        set_policies(aws, name, spec).await?;
    }

    if wants(SECURITY_GROUPS) && only.is_some() {
        aws.elb
            .apply_security_groups_to_load_balancer()
            .load_balancer_name(name)
            .security_groups(security_group_id)
            .send()
            .await
            .map_err(fail(what.clone()))?;
    }

    if wants(SUBNETS) && only.is_some() {
        let found = aws
            .elb
            .describe_load_balancers()
            .load_balancer_names(name)
            .send()
            .await
            .map_err(fail(what.clone()))?;
        let live: BTreeSet<String> = found
            .load_balancer_descriptions()
            .iter()
            .flat_map(|d| d.subnets().iter().cloned())
            .collect();
        let wanted: BTreeSet<String> = spec.subnets.iter().cloned().collect();
        let attach: Vec<String> = wanted.difference(&live).cloned().collect();
        let detach: Vec<String> = live.difference(&wanted).cloned().collect();
        let zones = if attach.is_empty() || detach.is_empty() {
            BTreeMap::new()
        } else {
            subnet_zones(aws, attach.iter().chain(&detach)).await?
        };
        for (attaching, subnets) in subnet_steps(&attach, &detach, &zones) {
            if attaching {
                aws.elb
                    .attach_load_balancer_to_subnets()
                    .load_balancer_name(name)
                    .set_subnets(Some(subnets))
                    .send()
                    .await
                    .map_err(fail(what.clone()))?;
            } else {
                aws.elb
                    .detach_load_balancer_from_subnets()
                    .load_balancer_name(name)
                    .set_subnets(Some(subnets))
                    .send()
                    .await
                    .map_err(fail(what.clone()))?;
            }
        }
    }
    Ok(())
}

/// Create the TLS and stickiness policies the spec needs and set each listener's policies.
async fn set_policies(aws: &Aws, name: &str, spec: &Spec) -> Result<(), AwsError> {
    let what = format!("set the policies of load balancer {name}");
    let tolerate_duplicate = |result: Result<(), AwsError>| match result {
        Err(error)
            if error.is("DuplicatePolicyName") || error.is("DuplicatePolicyNameException") =>
        {
            Ok(())
        }
        other => other,
    };
    let secure = spec.listeners.iter().any(|l| l.protocol.is_secure());
    let tls_name = spec.tls_policy_name();
    if secure {
        tolerate_duplicate(
            aws.elb
                .create_load_balancer_policy()
                .load_balancer_name(name)
                .policy_name(&tls_name)
                .policy_type_name("SSLNegotiationPolicyType")
                .policy_attributes(
                    PolicyAttribute::builder()
                        .attribute_name("Reference-Security-Policy")
                        .attribute_value(&spec.tls_policy)
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(fail(what.clone())),
        )?;
    }
    let sticky_name = spec.stickiness_policy_name();
    if let (Some(policy), Some(expiry)) = (&sticky_name, spec.stickiness) {
        tolerate_duplicate(
            aws.elb
                .create_lb_cookie_stickiness_policy()
                .load_balancer_name(name)
                .policy_name(policy)
                .set_cookie_expiration_period(expiry)
                .send()
                .await
                .map(|_| ())
                .map_err(fail(what.clone())),
        )?;
    }
    for listener in &spec.listeners {
        let mut policies = Vec::new();
        if listener.protocol.is_secure() {
            policies.push(tls_name.clone());
        }
        if matches!(listener.protocol, Protocol::Http | Protocol::Https)
            && let Some(policy) = &sticky_name
        {
            policies.push(policy.clone());
        }
        aws.elb
            .set_load_balancer_policies_of_listener()
            .load_balancer_name(name)
            .load_balancer_port(listener.port)
            .set_policy_names(Some(policies))
            .send()
            .await
            .map_err(fail(what.clone()))?;
    }
    Ok(())
}

pub(super) async fn delete(aws: &Aws, name: &str) -> Result<(), AwsError> {
    match aws
        .elb
        .delete_load_balancer()
        .load_balancer_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("delete load balancer {name}"))(error);
            if observe::not_found(&error) {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}

/// The stack's load balancers found by tag, for destroy's final scan.
pub(super) async fn tagged(aws: &Aws, stack: &str) -> Result<Vec<(String, String)>, AwsError> {
    let all = aws
        .elb
        .describe_load_balancers()
        .send()
        .await
        .map_err(fail("scan load balancers"))?;
    let names: Vec<String> = all
        .load_balancer_descriptions()
        .iter()
        .filter_map(|d| d.load_balancer_name().map(str::to_string))
        .collect();
    let mut found = Vec::new();
    for chunk in names.chunks(20) {
        // A load balancer deleted since the listing fails the whole batch: ask one by one then.
        let descriptions = match observe::tags_of(aws, chunk).await {
            Ok(descriptions) => descriptions,
            Err(error) if observe::not_found(&error) => {
                let mut descriptions = Vec::new();
                for name in chunk {
                    match observe::tags_of(aws, std::slice::from_ref(name)).await {
                        Ok(one) => descriptions.extend(one),
                        Err(error) if observe::not_found(&error) => {}
                        Err(error) => return Err(error),
                    }
                }
                descriptions
            }
            Err(error) => return Err(error),
        };
        for description in descriptions {
            if description
                .tags()
                .iter()
                .any(|t| t.key() == crate::ids::tags::TAG_STACK && t.value() == Some(stack))
            {
                let name = description.load_balancer_name().unwrap_or_default();
                found.push((format!("load balancer {name}"), name.to_string()));
            }
        }
    }
    Ok(found)
}
/// One instance as the load balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceHealth {
    pub instance_id: String,
    /// InService, OutOfService or Unknown.
    pub state: String,
    /// AWS's reason, when it gives one.
    pub reason: Option<String>,
}

impl InstanceHealth {
    pub fn in_service(&self) -> bool {
        self.state == "InService"
    }
}

/// What ACM says of a certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// ISSUED, PENDING_VALIDATION, EXPIRED, REVOKED, FAILED, ...
    pub status: String,
    pub domain: String,
    /// Seconds since the epoch.
    pub not_after: Option<i64>,
}

/// Each distinct ACM certificate among `arns`, looked up once, or why not
/// (`ResourceNotFoundException` when it does not exist). IAM server certificates are left out:
/// CreateLoadBalancerListeners checks them.
pub async fn certificates<'a>(
    aws: &Aws,
    arns: impl Iterator<Item = &'a str>,
) -> std::collections::BTreeMap<&'a str, Result<Certificate, AwsError>> {
    let distinct: std::collections::BTreeSet<&str> =
        arns.filter(|arn| arn.contains(":acm:")).collect();
    let each = distinct.into_iter().map(|arn| async move {
        let found = aws
            .acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(fail(format!("describe certificate {arn}")))
            .map(|out| {
                let certificate = out.certificate();
                Certificate {
                    status: certificate
                        .and_then(|c| c.status())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "UNKNOWN".into()),
                    domain: certificate
                        .and_then(|c| c.domain_name())
                        .unwrap_or_default()
                        .to_string(),
                    not_after: certificate.and_then(|c| c.not_after()).map(|t| t.secs()),
                }
            });
        (arn, found)
    });
    futures::future::join_all(each).await.into_iter().collect()
}

/// DescribeLoadBalancers of the one named.
async fn describe(
    aws: &Aws,
    name: &str,
    what: &str,
) -> Result<
    aws_sdk_elasticloadbalancing::operation::describe_load_balancers::DescribeLoadBalancersOutput,
    AwsError,
> {
    aws.elb
        .describe_load_balancers()
        .load_balancer_names(name)
        .send()
        .await
        .map_err(fail(what.to_string()))
}

/// The load balancer's health check target (`HTTP:80/health`), for messages.
pub async fn health_target(aws: &Aws, name: &str) -> Option<String> {
    describe(aws, name, "read the health check")
        .await
        .ok()?
        .load_balancer_descriptions()
        .first()?
        .health_check()
        .map(|check| check.target().to_string())
}

/// The Availability Zone of each subnet (the live ones are not in the stack's environment, and
/// ELB does not say which zone each of its subnets is in).
async fn subnet_zones(
    aws: &Aws,
    subnets: impl Iterator<Item = &String>,
) -> Result<BTreeMap<String, String>, AwsError> {
    let found = aws
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(subnets.cloned().collect()))
        .send()
        .await
        .map_err(fail("describe the load balancer's subnets"))?;
    Ok(found
        .subnets()
        .iter()
        .filter_map(|s| {
            Some((
                s.subnet_id()?.to_string(),
                s.availability_zone()?.to_string(),
            ))
        })
        .collect())
}

/// The order of a balancer's subnet changes: (attach?, subnets) steps. A Classic ELB takes one
/// subnet per Availability Zone (two are InvalidConfigurationRequest), so a subnet replacing
/// another in the same zone is attached only after the old one is detached; new zones are
/// attached first, so the balancer keeps serving where it can.
pub fn subnet_steps(
    attach: &[String],
    detach: &[String],
    zones: &BTreeMap<String, String>,
) -> Vec<(bool, Vec<String>)> {
    let zone = |s: &String| zones.get(s).cloned();
    let leaving: BTreeSet<Option<String>> = detach.iter().map(zone).collect();
    let arriving: BTreeSet<Option<String>> = attach.iter().map(zone).collect();
    let (replacing, new): (Vec<String>, Vec<String>) = attach
        .iter()
        .cloned()
        .partition(|s| zone(s).is_some() && leaving.contains(&zone(s)));
    let (replaced, rest): (Vec<String>, Vec<String>) = detach
        .iter()
        .cloned()
        .partition(|s| zone(s).is_some() && arriving.contains(&zone(s)));
    [
        (true, new),
        (false, replaced),
        (true, replacing),
        (false, rest),
    ]
    .into_iter()
    .filter(|(_, subnets)| !subnets.is_empty())
    .collect()
}

/// The health of the given instances (all registered ones when `instances` is empty).
pub async fn instance_health(
    aws: &Aws,
    name: &str,
    instances: &[String],
) -> Result<Vec<InstanceHealth>, AwsError> {
    let mut request = aws.elb.describe_instance_health().load_balancer_name(name);
    for instance in instances {
        request = request.instances(
            aws_sdk_elasticloadbalancing::types::Instance::builder()
                .instance_id(instance)
                .build(),
        );
    }
    let found = request.send().await.map_err(fail(format!(
        "read instance health from load balancer {name}"
    )))?;
    Ok(found
        .instance_states()
        .iter()
        .map(|state| InstanceHealth {
            instance_id: state.instance_id().unwrap_or_default().to_string(),
            state: state.state().unwrap_or("Unknown").to_string(),
            // ELB's reason code (Instance, ELB) and its description.
            reason: state
                .description()
                .filter(|d| !d.is_empty() && *d != "N/A")
                .map(
                    |d| match state.reason_code().filter(|c| !c.is_empty() && *c != "N/A") {
                        Some(code) => format!("{code}: {d}"),
                        None => d.to_string(),
                    },
                ),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_subnet_replacing_another_in_its_zone_is_attached_after_the_old_one_goes() {
        let zones: BTreeMap<String, String> = [
            ("old-a", "us-east-1a"),
            ("new-a", "us-east-1a"),
            ("old-b", "us-east-1b"),
            ("new-c", "us-east-1c"),
        ]
        .into_iter()
        .map(|(s, z)| (s.to_string(), z.to_string()))
        .collect();
        let steps = subnet_steps(
            &names(&["new-a", "new-c"]),
            &names(&["old-a", "old-b"]),
            &zones,
        );
        assert_eq!(
            steps,
            vec![
                (true, names(&["new-c"])),
                (false, names(&["old-a"])),
                (true, names(&["new-a"])),
                (false, names(&["old-b"])),
            ]
        );
        // Nothing to swap: attach, then detach, as before.
        assert_eq!(
            subnet_steps(&names(&["new-c"]), &names(&["old-b"]), &zones),
            vec![(true, names(&["new-c"])), (false, names(&["old-b"]))]
        );
        assert_eq!(
            subnet_steps(&names(&["new-c"]), &[], &BTreeMap::new()),
            vec![(true, names(&["new-c"]))]
        );
    }
}
