//! Profile values with a syntax of their own, parsed once when the profile is read: durations
//! (`30m`), health check targets (`HTTP:80/health`) and roll batches (`25%`). A value that does
//! not parse is an error at its key, with a hint; everything downstream holds the parsed value.
//! Each keeps its text, so it is written back (a schema default, a plan) as the user wrote it.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use super::schema::Protocol;

/// What a value's parse failure says, and the hint; the loader shows them at the value's key.
/// (Carried through serde as `message\u{1f}hint`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub hint: &'static str,
}

/// Separates a message from its hint in a serde error's text.
pub const HINT_SEPARATOR: char = '\u{1f}';

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{HINT_SEPARATOR}{}", self.message, self.hint)
    }
}

/// The schema of a value written as a string.
macro_rules! string_schema {
    ($type:ty, $name:literal) => {
        impl JsonSchema for $type {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                String::json_schema(generator)
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl From<$type> for String {
            fn from(value: $type) -> String {
                value.text
            }
        }
    };
}

/// A duration: a whole number with `s`, `m` or `h`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Duration {
    text: String,
    value: std::time::Duration,
}

string_schema!(Duration, "Duration");

impl Duration {
    pub fn get(&self) -> std::time::Duration {
        self.value
    }

    pub fn as_secs(&self) -> u64 {
        self.value.as_secs()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for Duration {
    type Error = Invalid;

    fn try_from(text: String) -> Result<Self, Invalid> {
        match parse_duration(&text) {
            Some(value) => Ok(Duration { text, value }),
            None => Err(Invalid {
                message: format!("`{text}` is not a duration"),
                hint: "write a number with s, m or h: 90s, 30m, 1h",
            }),
        }
    }
}

/// `90s`, `30m`, `1h` -> a duration.
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3600)?,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(seconds))
}

/// A load balancer health check target: `PROTOCOL:PORT/path` for HTTP and HTTPS, `PROTOCOL:PORT`
/// for TCP and SSL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HealthTarget {
    text: String,
    pub protocol: Protocol,
    pub port: u16,
    /// Empty for TCP and SSL.
    pub path: String,
}

string_schema!(HealthTarget, "HealthTarget");

impl HealthTarget {
    /// A TCP check of `port`.
    pub fn tcp(port: u16) -> Self {
        HealthTarget {
            text: format!("TCP:{port}"),
            protocol: Protocol::Tcp,
            port,
            path: String::new(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for HealthTarget {
    type Error = Invalid;

    fn try_from(text: String) -> Result<Self, Invalid> {
        match parse_health_target(&text) {
            Ok((protocol, port, path)) => Ok(HealthTarget {
                text,
                protocol,
                port,
                path,
            }),
            Err(message) => Err(Invalid {
                message,
                hint: "write PROTOCOL:PORT/path for HTTP and HTTPS (e.g. HTTP:80/health), PROTOCOL:PORT for TCP and SSL",
            }),
        }
    }
}

fn parse_health_target(target: &str) -> Result<(Protocol, u16, String), String> {
    let Some((protocol, rest)) = target.split_once(':') else {
        return Err(format!("`{target}` has no protocol"));
    };
    let Some(protocol) = Protocol::parse(protocol) else {
        return Err(format!(
            "`{protocol}` is not a health check protocol (HTTP, HTTPS, TCP or SSL)"
        ));
    };
    let (port, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let port: u16 = match port.parse() {
        Ok(port) if port > 0 => port,
        _ => return Err(format!("`{port}` is not a port from 1 to 65535")),
    };
    match (protocol, path.is_empty()) {
        (Protocol::Http | Protocol::Https, true) => Err(format!(
            "an {} health check needs a path, e.g. {}:{port}/health",
            protocol.as_str(),
            protocol.as_str()
        )),
        (Protocol::Tcp | Protocol::Ssl, false) => Err(format!(
            "a {} health check takes no path",
            protocol.as_str()
        )),
        _ if path.len() > 1024 => Err("the path is longer than 1024 characters".into()),
        _ => Ok((protocol, port, path.to_string())),
    }
}

/// How many instances a roll replaces at a time: a count, or a share of the desired capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RollBatch {
    text: String,
    size: BatchSize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchSize {
    Count(i32),
    /// 1 to 100.
    Percent(i32),
}

string_schema!(RollBatch, "RollBatch");

impl RollBatch {
    /// The batch for a group of `desired` instances: at least one.
    pub fn size(&self, desired: i32) -> i32 {
        match self.size {
            BatchSize::Count(count) => count,
            BatchSize::Percent(percent) => (desired.max(1) * percent / 100).max(1),
        }
    }
}

impl TryFrom<String> for RollBatch {
    type Error = Invalid;

    fn try_from(text: String) -> Result<Self, Invalid> {
        let trimmed = text.trim();
        let size = match trimmed.strip_suffix('%') {
            Some(percent) => percent
                .trim()
                .parse()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .map(BatchSize::Percent),
            None => trimmed
                .parse()
                .ok()
                .filter(|n: &i32| *n >= 1)
                .map(BatchSize::Count),
        };
        match size {
            Some(size) => Ok(RollBatch { text, size }),
            None => Err(Invalid {
                message: format!("`{text}` is not a batch size"),
                hint: "give a count (\"2\") or a share of the desired capacity (\"25%\", 1% to 100%)",
            }),
        }
    }
}

/// A value the shipped defaults name: always valid.
pub(super) fn known<T: TryFrom<String, Error = Invalid>>(text: &str) -> T {
    T::try_from(text.to_string()).unwrap_or_else(|error| panic!("a default is valid: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: TryFrom<String, Error = Invalid>>(text: &str) -> Result<T, Invalid> {
        T::try_from(text.to_string())
    }

    #[test]
    fn durations_take_seconds_minutes_or_hours() {
        assert_eq!(parse::<Duration>("90s").unwrap().as_secs(), 90);
        assert_eq!(parse::<Duration>("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse::<Duration>("2h").unwrap().as_secs(), 7200);
        let error = parse::<Duration>("half an hour").unwrap_err();
        assert_eq!(error.message, "`half an hour` is not a duration");
        assert!(parse::<Duration>("30").is_err());
        assert!(parse::<Duration>("99999999999999999999h").is_err());
    }

    #[test]
    fn health_targets_need_a_path_exactly_for_http() {
        let http = parse::<HealthTarget>("HTTP:80/health").unwrap();
        assert_eq!(
            (http.protocol, http.port, http.path.as_str()),
            (Protocol::Http, 80, "/health")
        );
        let tcp = parse::<HealthTarget>("TCP:9091").unwrap();
        assert_eq!(tcp, HealthTarget::tcp(9091));
        assert!(
            parse::<HealthTarget>("HTTP:80")
                .unwrap_err()
                .message
                .contains("needs a path")
        );
        assert!(
            parse::<HealthTarget>("TCP:80/x")
                .unwrap_err()
                .message
                .contains("takes no path")
        );
        assert!(parse::<HealthTarget>("FTP:21").is_err());
        assert!(parse::<HealthTarget>("HTTP:0/x").is_err());
    }

    #[test]
    fn a_batch_is_a_count_or_a_share_of_at_least_one() {
        assert_eq!(parse::<RollBatch>("25%").unwrap().size(2), 1);
        assert_eq!(parse::<RollBatch>("25%").unwrap().size(8), 2);
        assert_eq!(parse::<RollBatch>("3").unwrap().size(8), 3);
        assert!(parse::<RollBatch>("0").is_err());
        assert!(parse::<RollBatch>("150%").is_err());
    }

    #[test]
    fn a_value_is_written_back_as_given() {
        let value: RollBatch = serde_json::from_str("\"25%\"").unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), "\"25%\"");
        let error = serde_json::from_str::<Duration>("\"soon\"").unwrap_err();
        assert!(
            error.to_string().contains("`soon` is not a duration"),
            "{error}"
        );
    }
}
