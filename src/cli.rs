//! The command line (clap derive). Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::render::Format;

/// deployer: provision an auto-scaling, highly available deployment on AWS from one profile.
///
/// A profile (profiles/NAME.toml) describes the stack: nodes from an AMI in an Auto Scaling
/// Group behind a Classic Load Balancer, with an optional RDS PostgreSQL database and ElastiCache
/// Redis. There is no state file: every resource is named after the stack and tagged
/// deployer:stack, and plan reads the live state from AWS.
///
/// Credentials, region and endpoint come from the AWS chain (AWS_PROFILE, AWS_REGION,
/// AWS_ENDPOINT_URL, ~/.aws/config).
#[derive(Debug, Parser)]
#[command(
    name = "deployer",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten, next_help_heading = "Global options")]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// What the exit code says, for scripts (shown by every command's --help and in the man pages).
pub const EXIT_CODES: &str = "Exit codes:
  0    success (for plan --detailed-exitcode: no changes)
  1    an error: a bad profile, template or argument, a refusal, a failed AWS call or step
       (what was done is kept: the same command resumes)
  2    plan --detailed-exitcode only: the plan has changes
  130  interrupted (Ctrl-C); 143: terminated (SIGTERM). What was done is kept; the same command
       resumes";

/// `--poll-interval`: a number of seconds from 0.05 to 300.
fn parse_poll_interval(text: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !seconds.is_finite() || !(0.05..=300.0).contains(&seconds) {
        return Err(format!(
            "`{text}` is out of range: give a number of seconds from 0.05 to 300"
        ));
    }
    Ok(seconds)
}

impl Global {
    /// The profile selected: `--profile`, `DEPLOYER_PROFILE`, else `default`.
    pub fn profile(&self) -> &str {
        self.profile.as_deref().unwrap_or("default")
    }
}

impl Command {
    /// The output format the command was asked for (text for those without --output).
    pub fn output(&self) -> Format {
        match self {
            Command::Plan(args) => args.output,
            Command::Apply(args) => args.output,
            Command::Destroy(args) => args.output,
            Command::Scale(args) => args.output,
            Command::Bake(args) => args.output,
            Command::Status(args) => args.output,
            Command::Validate(args) => args.output,
            _ => Format::Text,
        }
    }
}

/// The top-level help's examples.
const TOP_EXAMPLES: &str = "Examples:
  deployer validate -p prod                 check the profile and templates, no AWS call
  deployer plan -p prod --out prod.plan     see what would change, and keep the plan
  deployer apply prod.plan                  apply exactly that plan
  deployer apply -p prod                    plan, confirm, apply";

/// The environment variables deployer reads, besides the AWS SDK's own.
pub const ENVIRONMENT: &str = "Environment:
  AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID, ...  the AWS SDK's chain (credentials, region)
  AWS_ENDPOINT_URL               the endpoint (as --endpoint-url), e.g. LocalStack's
  DEPLOYER_PROFILE               the profile (as --profile)
  DEPLOYER_POLL_INTERVAL         seconds between polls (as --poll-interval)
  DEPLOYER_AWS_ATTEMPT_TIMEOUT   seconds one AWS call attempt may take (default 60)
  DEPLOYER_LOCK_TTL              seconds the stack lock lives without renewal (default 300)
  DEPLOYER_SKIP_REGION_VALIDATION=1  let through a region newer than deployer's list
  NO_COLOR                       no colour (profile errors keep their source snippet)";

/// The global options a command makes no use of (hidden from its help).
fn unused_globals(command: &str) -> &'static [&'static str] {
    match command {
        "apply" | "destroy" | "bake" | "scale" => &[],
        "plan" | "status" | "unlock" => &["poll_interval"],
        "validate" => &["endpoint_url", "poll_interval"],
        _ => &["profile", "region", "endpoint_url", "poll_interval"],
    }
}

/// Examples for a command's --help.
fn examples(command: &str) -> &'static str {
    match command {
        "plan" => {
            "Examples:
  deployer plan -p prod                          what apply would change
  deployer plan -p prod --detailed-exitcode      for drift jobs: 0 none, 2 changes, 1 error
  deployer plan -p prod --out prod.plan          keep the plan for `deployer apply prod.plan`
  deployer plan -p prod --output json | jq .summary"
        }
        "apply" => {
            "Examples:
  deployer apply -p prod                 show the plan, ask, apply
  deployer apply -p prod --yes           no question (CI)
  deployer apply prod.plan               apply a saved plan (refused if the stack changed)
  deployer apply -p prod --reset-scale   go back to the profile's capacity after `scale`
  deployer apply -p prod --yes --allow-disruption
                                         also make changes marked ! (a database reboot, a cache failover)"
        }
        "destroy" => {
            "Examples:
  deployer destroy -p staging                          ask (type the stack name), then delete
  deployer destroy -p staging --yes --skip-final-snapshot"
        }
        "scale" => {
            "Examples:
  deployer scale -p prod --min 2 --max 10
  deployer scale -p prod --desired 6
  deployer scale -p prod --group manager --max 4"
        }
        "bake" => {
            "Examples:
  deployer bake -p prod          bake the image if its inputs changed, else say so
  deployer bake -p prod --yes    also deregister images beyond keep_images without asking"
        }
        "status" => {
            "Examples:
  deployer status -p prod
  deployer status -p prod --output json | jq .outputs"
        }
        "unlock" => {
            "Examples:
  deployer unlock -p prod          say whose the lock is, ask, remove it
  deployer unlock -p prod --yes    a dead run's lock on another machine, no question"
        }
        "validate" => {
            "Examples:
  deployer validate -p prod
  deployer validate -p profiles/new.toml --output json"
        }
        "schema" => {
            "Examples:
  deployer schema > schema/profile.schema.json
  deployer schema --format markdown"
        }
        "completions" => {
            "Examples:
  deployer completions bash > ~/.local/share/bash-completion/completions/deployer
  deployer completions zsh > \"${fpath[1]}/_deployer\""
        }
        "man" => {
            "Examples:
  deployer man | man -l -
  deployer man --dir man"
        }
        _ => "",
    }
}

impl Cli {
    /// The command line with examples and the exit codes in every command's help.
    pub fn command_line() -> clap::Command {
        use clap::CommandFactory;
        let command =
            Cli::command().after_help(format!("{TOP_EXAMPLES}\n\n{ENVIRONMENT}\n\n{EXIT_CODES}"));
        // The global options reach every command (`deployer -p prod plan` works); a command's
        // help shows only those that mean something to it: the others get a hidden copy, which
        // clap then does not replace with the shown one.
        let globals: Vec<clap::Arg> = command
            .get_arguments()
            .filter(|arg| arg.is_global_set())
            .cloned()
            .collect();
        command.mut_subcommands(|sub| {
            let examples = examples(sub.get_name());
            let unused = unused_globals(sub.get_name());
            globals
                .iter()
                .filter(|arg| unused.contains(&arg.get_id().as_str()))
                .fold(sub, |sub, arg| sub.arg(arg.clone().hide(true)))
                .after_help(format!("{examples}\n\n{EXIT_CODES}"))
        })
    }

    /// Parse the process's arguments.
    pub fn try_parse_args() -> Result<Cli, clap::Error> {
        use clap::FromArgMatches;
        let matches = Cli::command_line().try_get_matches()?;
        Cli::from_arg_matches(&matches)
    }
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The profile: a name in profiles/ (profiles/NAME.toml, found from here up) or a path to a
    /// .toml file [default: default]
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "DEPLOYER_PROFILE",
        value_name = "PROFILE"
    )]
    pub profile: Option<String>,

    /// AWS region; overrides the profile's `region` and the AWS chain (AWS_REGION)
    #[arg(long, global = true, value_name = "REGION", value_parser = crate::aws::regions::parse)]
    pub region: Option<String>,

    /// AWS endpoint URL, e.g. http://127.0.0.1:4566 for LocalStack
    #[arg(long, global = true, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// Seconds between polls while waiting for resources (steady, not exponential)
    #[arg(
        long,
        global = true,
        env = "DEPLOYER_POLL_INTERVAL",
        default_value_t = 5.0,
        value_name = "SECONDS",
        value_parser = parse_poll_interval
    )]
    pub poll_interval: f64,

    /// plan, apply, bake: bake from the newest image a base image lookup or SSM parameter names,
    /// even when the stack's image was baked from an older one (which is otherwise kept, so that
    /// an AWS release does not rebake and roll every node by surprise)
    #[arg(long, global = true, env = "DEPLOYER_REFRESH_BASE_IMAGE")]
    pub refresh_base_image: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change: read the live stack, compare with the profile
    ///
    /// Prints each resource to create (+), update (~, attribute old -> new), replace (-/+, and
    /// why) or delete (-). Changes nothing.
    Plan(PlanArgs),
    /// Converge the stack to the profile (or apply a saved plan)
    ///
    /// Shows the plan and asks for confirmation on a terminal unless --yes. Resources start as
    /// soon as what they need is ready: database, cache and load balancer side by side, the
    /// launch template once the endpoints are known, the group last. Safe to run again: an
    /// interrupted apply resumes.
    Apply(ApplyArgs),
    /// Delete every resource of the stack, in reverse dependency order
    ///
    /// The database gets a final snapshot named after the stack and the time unless
    /// --skip-final-snapshot. Ends with a scan for anything still tagged for the stack.
    Destroy(DestroyArgs),
    /// Change the group's capacity now; later applies keep it until `apply --reset-scale`
    ///
    /// Checks min <= desired <= max before changing anything, changes only the live group, and
    /// records the change on the group, so that the next apply keeps the scale-out instead of
    /// undoing it. Without --desired, the group keeps its desired capacity if it fits.
    Scale(ScaleArgs),
    /// Bake the node image only (what apply does first when the profile has [node.bake])
    ///
    /// The image is named after the content hash of everything that shapes it (base image,
    /// rendered bake template, builder settings): when an image of that hash exists, nothing is
    /// launched. Otherwise one builder runs the bake template, powers off and is imaged. Old
    /// images beyond `keep_images` are deregistered, never one a launch template in use needs.
    Bake(BakeArgs),
    /// Show what runs: outputs, capacity, versions, and each instance's zone, version and health
    Status(StatusArgs),
    /// Remove the stack's lock (after a run that died holding it)
    ///
    /// apply, destroy, scale and bake hold a lock per stack (an SSM parameter
    /// /deployer/<stack>/lock) so that two never run at once. A run that is killed leaves its
    /// lock until it expires (DEPLOYER_LOCK_TTL seconds, default 300); this removes it now.
    Unlock(UnlockArgs),
    /// Check the profile and its templates without calling AWS
    Validate(ValidateArgs),
    /// Print the JSON Schema of the profile format (for editor completion and checks)
    ///
    /// Generated from the types deployer reads profiles into, so it cannot drift from them.
    /// For example, with taplo or Even Better TOML: `deployer schema > profile.schema.json`, then
    /// put `#:schema ./profile.schema.json` at the top of a profile. The repository ships it as
    /// schema/profile.schema.json. `--format markdown` prints the profile reference instead: a
    /// table of every key with its type, default and description, as in the README.
    Schema(SchemaArgs),
    /// Print a shell completion script
    ///
    /// bash: `deployer completions bash > ~/.local/share/bash-completion/completions/deployer`;
    /// zsh: `deployer completions zsh > "${fpath[1]}/_deployer"`;
    /// fish: `deployer completions fish > ~/.config/fish/completions/deployer.fish`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a directory
    ///
    /// `deployer man | man -l -` reads it now; `deployer man --dir /usr/local/share/man/man1`
    /// installs deployer.1 and deployer-<command>.1. The repository ships them in man/.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// What to print
    #[arg(long, value_enum, default_value_t = SchemaFormat::Json)]
    pub format: SchemaFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    /// The JSON Schema (draft 2020-12)
    Json,
    /// The profile reference: a Markdown table, one row per key
    Markdown,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write deployer.1 and one page per command into DIR instead of printing deployer.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan to FILE for `deployer apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Exit 0 with no changes, 2 with changes, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `deployer plan --out FILE`: apply exactly it (refused if the stack changed)
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Return the group to the profile's capacity, undoing `deployer scale`
    #[arg(long)]
    pub reset_scale: bool,

    /// Allow changes that reboot or fail over the running database or cache (instance or node
    /// type, engine version, database port, Multi-AZ) without a person confirming them: needed
    /// with --yes or a saved plan when the plan marks such a change with !
    #[arg(long)]
    pub allow_disruption: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The group's new minimum size
    #[arg(long)]
    pub min: Option<i32>,

    /// The group's new maximum size
    #[arg(long)]
    pub max: Option<i32>,

    /// The group's new desired capacity (default: the current one, if it fits)
    #[arg(long)]
    pub desired: Option<i32>,

    /// Scale one of the profile's extra node groups (`[groups.<name>]`) instead of the main one
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Delete the database without a final snapshot (its data is lost)
    #[arg(long)]
    pub skip_final_snapshot: bool,

    /// Keep the stack's baked images and their snapshots
    #[arg(long)]
    pub keep_images: bool,

    /// Keep the stack's logs: the load balancer's access log bucket and the nodes' log group
    #[arg(long)]
    pub keep_logs: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct BakeArgs {
    /// Do not ask before deregistering old images
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// When the bake fails, leave its builder stopped (with its disk and security group) for
    /// inspection instead of terminating it; plan lists it, and the next bake or apply deletes it
    #[arg(long)]
    pub keep_builder: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Remove the lock even though its holder still runs on this machine (that run then stops
    /// at its next lock renewal, leaving what it was doing for the next apply)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}
