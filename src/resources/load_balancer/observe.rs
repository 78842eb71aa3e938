//! Reading load balancers back: listeners, health check, attributes and policies in the canonical
//! form the plan compares. The stack's balancers are described together.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticloadbalancing::types::{LoadBalancerAttributes, LoadBalancerDescription};
use serde_json::{Map, Value, json};

use super::*;
use crate::aws::{Aws, AwsError, fail, tag_map};
use crate::resources::attributes::sorted;
use crate::resources::observed::{ObservedResource, Outputs, Status};

pub(super) fn not_found(error: &AwsError) -> bool {
    error.is("LoadBalancerNotFound") || error.is("AccessPointNotFoundException")
}

/// The load balancers among `names` that exist: one listing, one tag request, and the
/// attributes of each (AWS reads those one balancer at a time).
pub(super) async fn describe(
    aws: &Aws,
    names: &[String],
) -> Result<Vec<ObservedResource>, AwsError> {
    let what = "describe the load balancers";
    let mut found: Vec<LoadBalancerDescription> = Vec::new();
    if let [name] = names {
        // One name: ask for it (a listing of every balancer in the region is not needed).
        match aws
            .elb
            .describe_load_balancers()
            .load_balancer_names(name)
            .send()
            .await
        {
            Ok(out) => found.extend(out.load_balancer_descriptions().iter().cloned()),
            Err(error) => {
                let error = fail(format!("describe load balancer {name}"))(error);
                if !not_found(&error) {
                    return Err(error);
                }
            }
        }
    } else {
        // Several: AWS fails a request naming one that does not exist, so list them all.
        let mut marker: Option<String> = None;
        loop {
            let out = aws
                .elb
                .describe_load_balancers()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(fail(what))?;
            found.extend(
                out.load_balancer_descriptions()
                    .iter()
                    .filter(|d| {
                        d.load_balancer_name()
                            .is_some_and(|n| names.iter().any(|w| w == n))
                    })
                    .cloned(),
            );
            marker = out.next_marker().map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
    }
    if found.is_empty() {
        return Ok(vec![]);
    }
    let found_names: Vec<String> = found
        .iter()
        .filter_map(|d| d.load_balancer_name().map(str::to_string))
        .collect();
    let attributes = found_names.iter().map(|name| async move {
        aws.elb
            .describe_load_balancer_attributes()
            .load_balancer_name(name)
            .send()
            .await
            .map(|out| out.load_balancer_attributes().cloned())
            .map_err(fail(format!("describe load balancer {name}")))
    });
    let (attributes, tags) = tokio::join!(
        futures::future::try_join_all(attributes),
        tags_of(aws, &found_names),
    );
    let attributes = attributes?;
    let tags: BTreeMap<String, BTreeMap<String, String>> = tags?
        .iter()
        .map(|d| {
            (
                d.load_balancer_name().unwrap_or_default().to_string(),
                tag_map(d.tags().iter().map(|t| (Some(t.key()), t.value()))),
            )
        })
        .collect();
    Ok(found
        .iter()
        .zip(attributes)
        .map(|(lb, live)| {
            let name = lb.load_balancer_name().unwrap_or_default();
            let tags = tags.get(name).cloned().unwrap_or_default();
            resource(name, lb, live.as_ref(), tags)
        })
        .collect())
}

/// Tags of up to 20 load balancers at once.
pub(super) async fn tags_of(
    aws: &Aws,
    names: &[String],
) -> Result<Vec<aws_sdk_elasticloadbalancing::types::TagDescription>, AwsError> {
    let mut descriptions = Vec::new();
    for chunk in names.chunks(20) {
        let out = aws
            .elb
            .describe_tags()
            .set_load_balancer_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(fail("read load balancer tags"))?;
        descriptions.extend(out.tag_descriptions().iter().cloned());
    }
    Ok(descriptions)
}

/// One load balancer in the canonical form.
fn resource(
    name: &str,
    lb: &LoadBalancerDescription,
    live: Option<&LoadBalancerAttributes>,
    tags: BTreeMap<String, String>,
) -> ObservedResource {
    let mut listeners = Vec::new();
    let mut tls_policies = BTreeSet::new();
    let mut sticky = BTreeSet::new();
    let mut any_secure = false;
    for description in lb.listener_descriptions() {
        let Some(listener) = description.listener() else {
            continue;
        };
        let protocol = Protocol::parse(listener.protocol()).unwrap_or(Protocol::Tcp);
        let instance_protocol = listener
            .instance_protocol()
            .and_then(Protocol::parse)
            .unwrap_or(protocol);
        listeners.push(
            ListenerSpec {
                port: listener.load_balancer_port(),
                protocol,
                instance_port: listener.instance_port(),
                instance_protocol,
                certificate: listener.ssl_certificate_id().map(str::to_string),
            }
            .canonical(),
        );
        if protocol.is_secure() {
            any_secure = true;
            let tls: Vec<&String> = description
                .policy_names()
                .iter()
                .filter(|p| !p.starts_with(STICKY_PREFIX))
                .collect();
            match tls.as_slice() {
                [one] => tls_policies.insert(match one.strip_prefix(TLS_PREFIX) {
                    Some(rest) => format!("ELBSecurityPolicy-{rest}"),
                    None => one.to_string(),
                }),
                [] => tls_policies.insert("(none)".into()),
                many => tls_policies.insert(
                    many.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("+"),
                ),
            };
        }
        if matches!(protocol, Protocol::Http | Protocol::Https) {
            let names: Vec<&String> = description
                .policy_names()
                .iter()
                .filter(|p| p.starts_with(STICKY_PREFIX))
                .collect();
            sticky.insert(match names.first() {
                None => stickiness_text(None),
                Some(name) => match name.trim_start_matches(STICKY_PREFIX) {
                    "session" => stickiness_text(Some(None)),
                    seconds => stickiness_text(Some(seconds.parse().ok())),
                },
            });
        }
    }
    let health = lb.health_check().map(|h| {
        HealthCheckSpec {
            target: h.target().to_string(),
            interval: h.interval(),
            timeout: h.timeout(),
            healthy_threshold: h.healthy_threshold(),
            unhealthy_threshold: h.unhealthy_threshold(),
        }
        .canonical()
    });
    let mut map = Map::new();
    map.insert(
        SCHEME.into(),
        json!(lb.scheme().unwrap_or("internet-facing")),
    );
    map.insert(SUBNETS.into(), sorted(lb.subnets().iter().cloned()));
    map.insert(
        SECURITY_GROUPS.into(),
        sorted(lb.security_groups().iter().cloned()),
    );
    map.insert(LISTENERS.into(), sorted(listeners));
    map.insert(HEALTH_CHECK.into(), json!(health));
    if let Some(live) = live {
        if let Some(settings) = live.connection_settings() {
            map.insert(IDLE_TIMEOUT.into(), json!(settings.idle_timeout()));
        }
        if let Some(cross) = live.cross_zone_load_balancing() {
            map.insert(CROSS_ZONE.into(), json!(cross.enabled()));
        }
        let log = live
            .access_log()
            .filter(|log| log.enabled())
            .map(|log| AccessLogSpec {
                bucket: log.s3_bucket_name().unwrap_or_default().to_string(),
                prefix: log.s3_bucket_prefix().unwrap_or_default().to_string(),
                interval: log.emit_interval().unwrap_or(60),
            });
        map.insert(ACCESS_LOG.into(), json!(access_log_text(log.as_ref())));
        if let Some(draining) = live.connection_draining() {
            map.insert(
                CONNECTION_DRAINING.into(),
                json!(draining_text(
                    draining
                        .enabled()
                        .then(|| draining.timeout().unwrap_or(300))
                )),
            );
        }
        let desync = live
            .additional_attributes()
            .iter()
            .find(|a| a.key() == Some(DESYNC_KEY))
            .and_then(|a| a.value())
            .unwrap_or("defensive");
        map.insert(DESYNC_MITIGATION.into(), json!(desync));
    }
    map.insert(
        STICKINESS.into(),
        match sticky.len() {
            0 => json!(stickiness_text(None)),
            1 => json!(sticky.into_iter().next()),
            _ => json!(sticky.into_iter().collect::<Vec<_>>().join(" / ")),
        },
    );
    map.insert(
        TLS_POLICY.into(),
        if !any_secure {
            Value::Null
        } else if tls_policies.len() == 1 {
            json!(tls_policies.into_iter().next())
        } else {
            json!(tls_policies.into_iter().collect::<Vec<_>>().join(" / "))
        },
    );
    ObservedResource {
        id: ResourceId::new(KIND, name),
        physical_id: name.to_string(),
        tags,
        attributes: map,
        status: Status::Ready,
        outputs: Outputs {
            endpoint: lb.dns_name().map(|dns| (dns.to_string(), 0)),
            ..Outputs::default()
        },
    }
}
