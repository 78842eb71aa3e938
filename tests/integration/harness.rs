//! The test harness: one emulator for the whole run (started by `scripts/emulator start`, which
//! reuses a running one or `AWS_ENDPOINT_URL`), a project directory per test with the shipped
//! profiles and templates, the built binary run against it, and SDK clients for assertions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;

pub const REGION: &str = "us-east-1";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The emulator's endpoint, starting it once per test run if needed.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let output = Command::new(root().join("scripts/emulator"))
            .arg("start")
            .output()
            .expect("scripts/emulator runs");
        assert!(
            output.status.success(),
            "the emulator did not start:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    })
}

/// Copy the directory `from` to `to`, subdirectories included.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A stack name no other test (or earlier run against the same emulator) uses.
pub fn unique_stack(prefix: &str) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    let suffix = Alphanumeric
        .sample_string(&mut rand::rng(), 6)
        .to_lowercase();
    format!("{prefix}-{suffix}")
}

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "exit {}:\n{}", self.code, self.all());
        self
    }
}

/// A project directory (profiles/, templates/) for one stack.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub stack: String,
    /// Where deployer sends its AWS calls: the emulator, or a simulator in front of it.
    pub endpoint: Option<String>,
}

impl Project {
    /// The shipped profiles and templates, and `profiles/test.toml` extending `local` with the
    /// stack name and `extra` TOML.
    pub fn new(prefix: &str, extra: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["profiles", "templates"] {
            copy_tree(&root().join(sub), &dir.path().join(sub));
        }
        let stack = unique_stack(prefix);
        let project = Project {
            dir,
            stack,
            endpoint: None,
        };
        project.write_profile(extra);
        project
    }

    /// A project whose `profiles/test.toml` is `body` alone (no extends) under the stack name.
    pub fn standalone(prefix: &str, body: &str) -> Project {
        let project = Project::new(prefix, "");
        project.write(
            "profiles/test.toml",
            &format!("stack = \"{}\"\n{body}\n", project.stack),
        );
        project
    }

    /// Rewrite `profiles/test.toml` (extends local) with `extra`.
    pub fn write_profile(&self, extra: &str) {
        let text = format!("extends = \"local\"\nstack = \"{}\"\n{extra}\n", self.stack);
        std::fs::write(self.path().join("profiles/test.toml"), text).unwrap();
    }

    pub fn write(&self, relative: &str, text: &str) {
        std::fs::write(self.path().join(relative), text).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run `deployer ARGS --profile test` in the project directory against the emulator.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--profile", "test"]);
        self.run_raw(&full)
    }

    /// The command that runs `deployer ARGS` in the project directory against its endpoint.
    pub fn command_for(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_deployer"));
        command
            .args(args)
            .current_dir(self.path())
            .stdin(std::process::Stdio::null())
            .env(
                "AWS_ENDPOINT_URL",
                self.endpoint.as_deref().unwrap_or_else(|| endpoint()),
            )
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env("DEPLOYER_POLL_INTERVAL", "0.2")
            .env_remove("DEPLOYER_PROFILE")
            .env_remove("AWS_PROFILE")
            .env("NO_COLOR", "1");
        command
    }

    /// Start `deployer ARGS --profile test` without waiting for it (its output is discarded).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.spawn_with(args, &[])
    }

    /// `spawn` with extra environment variables.
    pub fn spawn_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--profile", "test"]);
        self.command_for(&full)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the deployer binary starts")
    }

    /// Run `deployer ARGS` exactly as given.
    pub fn run_raw(&self, args: &[&str]) -> Run {
        let output = self
            .command_for(args)
            .output()
            .expect("the deployer binary runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// SDK clients against the emulator, for asserting what deployer did.
#[derive(Clone)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub acm: aws_sdk_acm::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub kms: aws_sdk_kms::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

/// The SDK configuration of the tests' own calls: the emulator, test credentials.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

pub async fn clients() -> Clients {
    let config = sdk_config().await;
    Clients {
        ec2: aws_sdk_ec2::Client::new(&config),
        elb: aws_sdk_elasticloadbalancing::Client::new(&config),
        rds: aws_sdk_rds::Client::new(&config),
        elasticache: aws_sdk_elasticache::Client::new(&config),
        autoscaling: aws_sdk_autoscaling::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        secrets: aws_sdk_secretsmanager::Client::new(&config),
        acm: aws_sdk_acm::Client::new(&config),
        ssm: aws_sdk_ssm::Client::new(&config),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
        sns: aws_sdk_sns::Client::new(&config),
        kms: aws_sdk_kms::Client::new(&config),
        logs: aws_sdk_cloudwatchlogs::Client::new(&config),
    }
}
