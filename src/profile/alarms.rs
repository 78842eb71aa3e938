//! Validation of the `[alarms]` section: who is notified, and thresholds CloudWatch accepts.

use super::schema::Alarms;
use super::validate::Problems;

/// How SNS delivers to one `notify` entry: its protocol, or a problem (message, hint).
pub fn protocol(endpoint: &str) -> Result<&'static str, (String, &'static str)> {
    if let Some(rest) = endpoint.strip_prefix("https://") {
        return if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
            Err((
                format!("`{endpoint}` is not an https URL"),
                "write a whole URL, e.g. \"https://hooks.example.com/alarms\"",
            ))
        } else {
            Ok("https")
        };
    }
    if endpoint.starts_with("http://") {
        return Err((
            format!("`{endpoint}` would receive the alarms unencrypted"),
            "use an https:// endpoint",
        ));
    }
    let email = endpoint.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !endpoint.contains(char::is_whitespace)
            && !domain.contains('@')
    });
    if email {
        Ok("email")
    } else {
        Err((
            format!("`{endpoint}` is neither an email address nor an https:// URL"),
            "write an address (\"ops@example.com\") or an endpoint (\"https://hooks.example.com/alarms\")",
        ))
    }
}

pub(super) fn check(alarms: &Alarms, problems: &mut Problems) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, endpoint) in alarms.notify.iter().enumerate() {
        let key = format!("alarms.notify[{i}]");
        if let Err((message, hint)) = protocol(endpoint) {
            problems.add(&key, message, Some(hint));
        } else if !seen.insert(endpoint.to_ascii_lowercase()) {
            problems.add(&key, format!("`{endpoint}` is listed twice"), None);
        }
    }
    problems.range(
        "alarms.minutes",
        alarms.minutes.into(),
        1,
        60,
        "an alarm's minutes",
    );
    let at_least = |problems: &mut Problems, key: &str, value: f64, low: f64| {
        if !value.is_finite() || value < low {
            problems.add(
                format!("alarms.{key}"),
                format!("{value} is out of range"),
                Some(&format!("it must be {low} or more")),
            );
        }
    };
    let percent = |problems: &mut Problems, key: &str, value: f64| {
        if !value.is_finite() || value <= 0.0 || value >= 100.0 {
            problems.add(
                format!("alarms.{key}"),
                format!("{value} is out of range"),
                Some("a share in percent, above 0 and below 100"),
            );
        }
    };
    at_least(
        problems,
        "backend_5xx_per_minute",
        alarms.backend_5xx_per_minute,
        0.0,
    );
    at_least(
        problems,
        "load_balancer_5xx_per_minute",
        alarms.load_balancer_5xx_per_minute,
        0.0,
    );
    at_least(
        problems,
        "cache_evictions_per_minute",
        alarms.cache_evictions_per_minute,
        0.0,
    );
    if !alarms.latency_seconds.is_finite() || alarms.latency_seconds <= 0.0 {
        problems.add(
            "alarms.latency_seconds",
            format!("{} is out of range", alarms.latency_seconds),
            Some("a time in seconds, above 0"),
        );
    }
    at_least(
        problems,
        "database_free_memory_mib",
        alarms.database_free_memory_mib,
        1.0,
    );
    percent(
        problems,
        "database_cpu_percent",
        alarms.database_cpu_percent,
    );
    percent(
        problems,
        "database_free_storage_percent",
        alarms.database_free_storage_percent,
    );
    percent(problems, "cache_cpu_percent", alarms.cache_cpu_percent);
    percent(
        problems,
        "cache_memory_percent",
        alarms.cache_memory_percent,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_an_address_or_an_https_url_and_nothing_else() {
        assert_eq!(protocol("ops@example.com"), Ok("email"));
        assert_eq!(protocol("https://hooks.example.com/a?b=c"), Ok("https"));
        for bad in [
            "http://hooks.example.com",
            "https://",
            "ops@localhost",
            "ops",
            "@example.com",
            "ops @example.com",
            "arn:aws:sqs:us-east-1:123456789012:q",
        ] {
            assert!(protocol(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn thresholds_out_of_range_are_named_by_key() {
        let alarms = Alarms {
            minutes: 0,
            database_cpu_percent: 100.0,
            latency_seconds: 0.0,
            notify: vec!["ops@example.com".into(), "OPS@example.com".into()],
            ..Alarms::default()
        };
        let mut problems = Problems::default();
        check(&alarms, &mut problems);
        let keys: Vec<&str> = problems.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "alarms.notify[1]",
                "alarms.minutes",
                "alarms.latency_seconds",
                "alarms.database_cpu_percent"
            ]
        );
        let mut none = Problems::default();
        check(&Alarms::default(), &mut none);
        assert!(none.0.is_empty(), "{:?}", none.0);
    }
}
