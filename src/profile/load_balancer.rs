//! Validation of the `[load_balancer]` section: listeners, their certificates and CIDRs, the
//! health check, idle timeout, draining, stickiness and TLS policy.

use std::collections::BTreeSet;

use super::schema::{LoadBalancer, Protocol};
use super::validate::{Problems, is_certificate_arn, is_cidr};

/// The network address of a CIDR block: `10.1.2.3/8` -> `10.0.0.0/8`.
fn network_address(cidr: &str) -> Option<String> {
    let (address, bits) = cidr.split_once('/')?;
    let bits: u32 = bits.parse().ok()?;
    match address.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            Some(format!(
                "{}/{bits}",
                std::net::Ipv4Addr::from(u32::from(v4) & mask)
            ))
        }
        std::net::IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            Some(format!(
                "{}/{bits}",
                std::net::Ipv6Addr::from(u128::from(v6) & mask)
            ))
        }
    }
}

pub(super) fn check(lb: &LoadBalancer, problems: &mut Problems) {
    problems.range(
        "load_balancer.access_logs.retention_days",
        lb.access_logs.retention_days.into(),
        1,
        3650,
        "the days access logs are kept",
    );
    if ![5, 60].contains(&lb.access_logs.interval) {
        problems.add(
            "load_balancer.access_logs.interval",
            format!(
                "{} is not an interval a Classic Load Balancer writes at",
                lb.access_logs.interval
            ),
            Some("5 or 60 (minutes)"),
        );
    }
    if lb.listeners.is_empty() {
        problems.add(
            "load_balancer.listeners",
            "no listeners",
            Some("add at least one [[load_balancer.listeners]] table with port, protocol, instance_port and allow"),
        );
    }
    let mut ports = BTreeSet::new();
    for (i, listener) in lb.listeners.iter().enumerate() {
        let key = format!("load_balancer.listeners[{i}]");
        if listener.port == 0 {
            problems.add(
                format!("{key}.port"),
                "0 is out of range",
                Some("a port must be from 1 to 65535"),
            );
        } else if !ports.insert(listener.port) {
            problems.add(
                format!("{key}.port"),
                format!("port {} has two listeners", listener.port),
                Some("each load balancer port may have one listener"),
            );
        }
        if listener.instance_port == 0 {
            problems.add(
                format!("{key}.instance_port"),
                "0 is out of range",
                Some("a port must be from 1 to 65535"),
            );
        }
        let back = listener.effective_instance_protocol();
        let web = |p: Protocol| matches!(p, Protocol::Http | Protocol::Https);
        if web(listener.protocol) != web(back) {
            problems.add(
                format!("{key}.instance_protocol"),
                format!(
                    "a {} listener cannot forward to {}",
                    listener.protocol.as_str(),
                    back.as_str()
                ),
                Some("HTTP and HTTPS listeners forward to HTTP or HTTPS; TCP and SSL listeners to TCP or SSL"),
            );
        }
        match (&listener.certificate, listener.protocol.is_secure()) {
            (None, true) => problems.add(
                &key,
                format!(
                    "the {} listener on port {} needs a certificate",
                    listener.protocol.as_str(),
                    listener.port
                ),
                Some("add certificate = \"arn:aws:acm:...\" (an ACM or IAM certificate ARN), or use protocol = \"HTTP\""),
            ),
            (Some(_), false) => problems.add(
                format!("{key}.certificate"),
                format!(
                    "a {} listener takes no certificate",
                    listener.protocol.as_str()
                ),
                Some("certificates are for HTTPS and SSL listeners; remove it or change the protocol"),
            ),
            (Some(arn), true) if !is_certificate_arn(arn) => problems.add(
                format!("{key}.certificate"),
                format!("`{arn}` is not a certificate ARN"),
                Some("give an ACM (arn:aws:acm:...:certificate/...) or IAM (arn:aws:iam::...:server-certificate/...) ARN"),
            ),
            _ => {}
        }
        if listener.allow.is_empty() {
            problems.add(
                format!("{key}.allow"),
                "no CIDR may reach this listener",
                Some("list who may connect, e.g. allow = [\"0.0.0.0/0\"] for the public or [\"10.0.0.0/8\"]"),
            );
        }
        for (j, cidr) in listener.allow.iter().enumerate() {
            if !is_cidr(cidr) {
                problems.add(
                    format!("{key}.allow[{j}]"),
                    format!("`{cidr}` is not a CIDR block"),
                    Some("CIDR blocks look like 203.0.113.0/24 or 0.0.0.0/0"),
                );
            } else if let Some(network) = network_address(cidr).filter(|n| n != cidr) {
                // AWS keeps the network address only, so the rule would never match what
                // plan reads back (the Terraform provider refuses it the same way).
                problems.add(
                    format!("{key}.allow[{j}]"),
                    format!("`{cidr}` has host bits set: it is not a network address"),
                    Some(&format!("did you mean `{network}`?")),
                );
            }
        }
    }
    health_check(lb, problems);
    problems.range(
        "load_balancer.idle_timeout",
        lb.idle_timeout.into(),
        1,
        4000,
        "the idle timeout in seconds",
    );
    problems.range(
        "load_balancer.connection_draining_timeout",
        lb.connection_draining_timeout.into(),
        1,
        3600,
        "the connection draining timeout in seconds",
    );
    if let Some(expiration) = lb.stickiness.cookie_expiration
        && expiration < 1
    {
        problems.add(
            "load_balancer.stickiness.cookie_expiration",
            format!("{expiration} is out of range"),
            Some("the cookie lifetime is at least 1 second; leave it out for a session cookie"),
        );
    }
    if !lb.tls_policy.starts_with("ELBSecurityPolicy-") {
        problems.add(
            "load_balancer.tls_policy",
            format!(
                "`{}` is not a predefined ELB security policy",
                lb.tls_policy
            ),
            Some("use a predefined policy such as ELBSecurityPolicy-TLS-1-2-2017-01"),
        );
    }
}

fn health_check(lb: &LoadBalancer, problems: &mut Problems) {
    let check = &lb.health_check;
    problems.range(
        "load_balancer.health_check.timeout",
        check.timeout.into(),
        2,
        60,
        "the health check timeout in seconds",
    );
    problems.range(
        "load_balancer.health_check.interval",
        check.interval.into(),
        5,
        300,
        "the health check interval in seconds",
    );
    if check.timeout >= check.interval {
        problems.add(
            "load_balancer.health_check.timeout",
            format!(
                "the timeout ({} s) must be shorter than the interval ({} s)",
                check.timeout, check.interval
            ),
            Some("lower the timeout or raise the interval"),
        );
    }
    problems.range(
        "load_balancer.health_check.unhealthy_threshold",
        check.unhealthy_threshold.into(),
        2,
        10,
        "the unhealthy threshold",
    );
    problems.range(
        "load_balancer.health_check.healthy_threshold",
        check.healthy_threshold.into(),
        2,
        10,
        "the healthy threshold",
    );
}
