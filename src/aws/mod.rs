//! The AWS connection shared by the resource kinds: the SDK clients, one retry and timeout
//! configuration, and the mapping of SDK errors to errors that say what was being done. Also the
//! calls that are no resource kind's: the account, the network, the base images, the lock.

pub mod ec2;
pub mod lock;
pub mod quotas;
pub mod regions;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Where and how to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `--region`, else the profile's `region`, else the AWS chain.
    pub region: Option<String>,
    /// `--endpoint-url`; `AWS_ENDPOINT_URL` is read by the SDK itself.
    pub endpoint_url: Option<String>,
}

/// Clients for every service deployer uses, sharing one configuration.
#[derive(Clone)]
pub struct Aws {
    pub acm: aws_sdk_acm::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub quotas: aws_sdk_servicequotas::Client,
    pub sts: aws_sdk_sts::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub kms: aws_sdk_kms::Client,
    pub s3: aws_sdk_s3::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub region: String,
    /// The endpoint, when not AWS's own (`--endpoint-url`, AWS_ENDPOINT_URL).
    pub endpoint: Option<String>,
    /// The account and partition of the credentials, once asked.
    identity: std::sync::Arc<tokio::sync::OnceCell<(String, String)>>,
}

impl Aws {
    pub async fn connect(connection: &Connection) -> Result<Aws, AwsError> {
        // One attempt may take a minute (DEPLOYER_AWS_ATTEMPT_TIMEOUT seconds); throttling storms
        // get eight attempts with the SDK's backoff.
        let attempt_timeout = std::env::var("DEPLOYER_AWS_ATTEMPT_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(60));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(8))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(attempt_timeout)
                    .build(),
            );
        if let Some(region) = &connection.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &connection.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let aws = Aws::from_config(&loader.load().await)?;
        // The region from the environment or ~/.aws/config is checked as --region is.
        if let Some((message, hint)) = regions::problem(&aws.region) {
            return Err(AwsError::other("find the AWS region", message).with_hint(hint));
        }
        Ok(aws)
    }

    /// The clients of an SDK configuration (which must name a region).
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Aws, AwsError> {
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            AwsError::other("find the AWS region", "no region is set").with_hint(
                "put `region = \"...\"` in the profile, set AWS_REGION, or pass --region",
            )
        })?;
        Ok(Aws {
            acm: aws_sdk_acm::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            elb: aws_sdk_elasticloadbalancing::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            elasticache: aws_sdk_elasticache::Client::new(config),
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            quotas: aws_sdk_servicequotas::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            // An emulator's endpoint is an address, with no room for a bucket's name in front.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(config.endpoint_url().is_some())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            tagging: aws_sdk_resourcegroupstagging::Client::new(config),
            identity: Default::default(),
            region,
            endpoint: config.endpoint_url().map(str::to_string),
        })
    }

    /// Wait for `future` (the first calls of a run), saying after two seconds of silence what
    /// is being tried: a closed endpoint or a wrong region otherwise gives half a minute of
    /// nothing while the SDK retries.
    pub async fn patiently<F: std::future::Future>(&self, future: F) -> F::Output {
        tokio::pin!(future);
        tokio::select! {
            output = &mut future => return output,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let at = match &self.endpoint {
            Some(endpoint) => format!("{endpoint} (region {})", self.region),
            None => format!("region {}", self.region),
        };
        crate::render::errors::note(&format!(
            "waiting for AWS at {at}: no answer yet; retrying (up to 8 attempts, 10 s to connect, DEPLOYER_AWS_ATTEMPT_TIMEOUT s each)..."
        ));
        future.await
    }

    /// The account id and partition of the credentials in use (asked once).
    pub async fn identity(&self) -> Result<(String, String), AwsError> {
        self.identity
            .get_or_try_init(|| self.ask_identity())
            .await
            .cloned()
    }

    /// The ARN of one of the account's resources in the region: `arn:<partition>:<service>:
    /// <region>:<account>:<resource>` (the account from the run's one GetCallerIdentity).
    pub async fn arn(&self, service: &str, resource: &str) -> Result<String, AwsError> {
        let (account, partition) = self.identity().await?;
        Ok(format!(
            "arn:{partition}:{service}:{}:{account}:{resource}",
            self.region
        ))
    }

    async fn ask_identity(&self) -> Result<(String, String), AwsError> {
        let who = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(fail("find the AWS account (sts:GetCallerIdentity)"))?;
        let account = who.account().unwrap_or_default().to_string();
        let partition = who
            .arn()
            .and_then(|arn| arn.split(':').nth(1))
            .unwrap_or("aws")
            .to_string();
        Ok((account, partition))
    }
}

/// Every item of every page of a paginated request (`$request.into_paginator()`), or an
/// [`AwsError`] saying `$what` deployer was doing.
macro_rules! every_item {
    ($request:expr, $what:expr) => {
        $request
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err($crate::aws::fail($what))
    };
}
pub(crate) use every_item;

/// A failed AWS call: what deployer was doing, AWS's error code and message (or, without an
/// answer from AWS, the chain of causes), what to check, and the SDK's error itself.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub what: String,
    pub code: Option<String>,
    pub message: String,
    /// What to do about it, when deployer can tell.
    pub hint: Option<String>,
    /// The SDK's error, whose causes the message sums up.
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    /// What AWS said means that what it names is not visible yet, whatever the resource kind
    /// takes for that (see [`AwsError::not_visible_yet`]).
    late: bool,
}

impl AwsError {
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub fn other(what: impl Into<String>, message: impl Into<String>) -> Self {
        AwsError {
            what: what.into(),
            code: None,
            message: message.into(),
            hint: None,
            source: None,
            late: false,
        }
    }

    /// AWS's answers disagree because a change has not reached every part of it yet (a create
    /// answered "already exists" whose list does not show the resource): the engine tries the
    /// call again, as for a kind's own "not visible yet" codes.
    pub fn not_visible_yet(what: impl Into<String>, message: impl Into<String>) -> Self {
        AwsError {
            late: true,
            ..AwsError::other(what, message)
        }
    }

    /// Whether this is [`AwsError::not_visible_yet`].
    pub fn is_late(&self) -> bool {
        self.late
    }

    /// The same answer, taken as "not visible yet".
    pub fn late(self) -> Self {
        AwsError { late: true, ..self }
    }

    /// An error AWS answered with `code` and `message`, as [`fail`] makes them.
    pub fn coded(what: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        AwsError {
            code: Some(code.to_string()),
            ..AwsError::other(what, format!("{code}: {}", message.into()))
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A result in which AWS's `absent` code (the thing is not there) is a plain None.
pub fn unless_absent<T>(result: Result<T, AwsError>, absent: &str) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is(absent) => Ok(None),
        Err(error) => Err(error),
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {}: {}", self.what, self.message)
    }
}

impl std::error::Error for AwsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|error| error as &(dyn std::error::Error + 'static))
    }
}

/// Map an SDK error to an [`AwsError`] that says what was being done.
pub fn fail<E, R>(what: impl Into<String>) -> impl FnOnce(SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let what = what.into();
    move |error| {
        // AWS's own code and message say it all; without them (timeouts, connection errors) the
        // whole chain of causes does.
        let (message, hint) = match (error.code(), error.message()) {
            (Some(code), Some(message)) => (format!("{code}: {message}"), denied_hint(code)),
            _ => causes(&error),
        };
        AwsError {
            what,
            code: error.code().map(str::to_string),
            message,
            hint,
            source: Some(Arc::new(error)),
            late: false,
        }
    }
}

/// A delete's answer: done when it succeeded, or when AWS answers one of `gone` (nothing to
/// delete: deleting what is gone succeeds).
pub fn gone_is_done<T, E, R>(
    answer: Result<T, SdkError<E, R>>,
    what: impl Into<String>,
    gone: &[&str],
) -> Result<(), AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    match answer {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(what)(error);
            if gone.iter().any(|code| error.is(code)) {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}

/// What to do when AWS refuses a call for want of a permission.
fn denied_hint(code: &str) -> Option<String> {
    matches!(
        code,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation"
    )
    .then(|| {
        "the credentials deployer runs with lack that permission: attach iam/deployer-policy.json \
         (shipped with deployer) to their role or user; an organization's SCP or a permissions \
         boundary may also refuse it"
            .to_string()
    })
}

/// An error without AWS's code and message (no answer, a timeout): its chain of causes, each
/// said once, and what to check.
fn causes<E, R>(error: &SdkError<E, R>) -> (String, Option<String>)
where
    E: std::error::Error + 'static,
    R: fmt::Debug,
{
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut credentials = false;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        credentials |= cause.is::<CredentialsError>();
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    if credentials {
        // What to do first; the SDK's long chain of what it tried after it.
        return (
            "no usable AWS credentials: set AWS_PROFILE (after `aws configure` or `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; on EC2, give the instance a role".into(),
            Some(format!("what the SDK's credential chain said: {}", parts.join(": "))),
        );
    }
    let hint = match error {
        SdkError::DispatchFailure(_) => Some(
            "no answer from AWS: check the network, the region, and AWS_ENDPOINT_URL or --endpoint-url if set",
        ),
        SdkError::TimeoutError(_) => {
            Some("each attempt may take DEPLOYER_AWS_ATTEMPT_TIMEOUT seconds (default 60)")
        }
        _ => None,
    };
    (parts.join(": "), hint.map(str::to_string))
}

/// Whether a live resource found on "already exists" carries the ownership tag of the tags we
/// would have created it with: only then is it adopted.
pub fn same_owner(
    live: &crate::resources::observed::ObservedResource,
    tags: &BTreeMap<String, String>,
) -> bool {
    let key = crate::ids::tags::TAG_STACK;
    tags.get(key).is_some() && live.tags.get(key) == tags.get(key)
}

/// Tags as a sorted map, from any SDK tag list.
pub fn tag_map<'a>(
    pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;

    #[test]
    fn an_unanswered_call_says_why_once_and_what_to_check() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error: SdkError<
            aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError,
            aws_smithy_runtime_api::http::Response,
        > = SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        let failed = fail("find the AWS account")(error);
        let text = &failed.message;
        assert!(text.starts_with("dispatch failure"), "{text}");
        assert_eq!(text.matches("connection refused").count(), 1, "{text}");
        assert!(failed.hint.as_deref().unwrap().contains("AWS_ENDPOINT_URL"));
        assert!(!text.contains("ConnectorError"), "no Debug output: {text}");
        // The SDK's error is kept as the source.
        let source = std::error::Error::source(&failed).expect("a source");
        assert!(source.to_string().contains("dispatch failure"), "{source}");
    }

    #[test]
    fn missing_credentials_say_how_to_provide_them() {
        let missing = CredentialsError::provider_error(std::io::Error::other(
            "failed to load IMDS session token",
        ));
        let error: SdkError<std::io::Error, ()> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(missing), None));
        let (text, hint) = causes(&error);
        let hint = hint.unwrap();
        // What to do comes first; what the SDK tried after it.
        assert!(
            text.starts_with("no usable AWS credentials: set AWS_PROFILE"),
            "{text}"
        );
        assert!(!text.contains("IMDS"), "{text}");
        assert!(
            hint.starts_with("what the SDK's credential chain said: "),
            "{hint}"
        );
        assert!(hint.contains("failed to load IMDS session token"), "{hint}");
        assert!(!hint.contains("check the network"), "{hint}");
    }
}
