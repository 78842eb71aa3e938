//! The reliability suite: deployer through the cloud simulator (tests/simulator), which injects
//! faults, kills deployer after its k-th change, and plays the node that powers itself off.
//! After every faulty or killed run a clean run must converge: exactly one of each resource,
//! nothing orphaned, an empty plan, no secret in any output, and a destroy that leaves nothing.
//! Seeds are fixed. The suite prints one summary line (to stderr, past the test harness).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::check::{images, security_groups, tag, tagged_leftovers};
use crate::harness::{Clients, Project, Run, clients, endpoint, root};

/// The profile of every run: the whole reference stack, baking its image.
const STACK: &str = r#"
[node.bake]
base_image = "ami-760aaa0f"
timeout = "60s"
"#;

/// How fast the simulated builder powers off.
const POWER_OFF: f64 = 0.2;

/// One simulator process, in front of the emulator.
pub struct Simulator {
    child: Child,
    address: String,
}

impl Simulator {
    pub fn start() -> Simulator {
        let venv = root().join(".emulator/venv/bin/python");
        let python = if venv.exists() {
            venv.display().to_string()
        } else {
            "python3".to_string()
        };
        let mut child = Command::new(python)
            .arg(root().join("tests/simulator/simulator.py"))
            .args(["--port", "0", "--upstream", endpoint()])
            // Every request is authorized against the shipped policy, as AWS would.
            .arg("--iam-policy")
            .arg(root().join("iam/deployer-policy.json"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the simulator starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("the simulator says where it listens")
            .to_string();
        Simulator {
            child,
            address: url.trim_start_matches("http://").to_string(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn request(&self, method: &str, path: &str, body: &str) -> Value {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    pub fn configure(&self, config: Value) {
        self.request("POST", "/_sim/config", &config.to_string());
    }

    pub fn stats(&self) -> Value {
        self.request("GET", "/_sim/stats", "")
    }

    /// Every request the IAM policy refused since the simulator started: (call, action, resource).
    pub fn denials(&self) -> Vec<String> {
        self.stats()["iam_denials"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|d| format!("{} needs {} on {}", d["call"], d["action"], d["resource"]))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the suite found.
#[derive(Default)]
struct Tally {
    faults: (usize, usize),
    /// First applies that converged in one run while AWS hid what they created (of how many).
    consistency: (usize, usize),
    /// Applies that failed, as they must, while the load balancer passed no node (of how many).
    unhealthy: (usize, usize),
    kills: (usize, usize),
    orphans: usize,
    duplicates: usize,
    leaks: usize,
    secrets: usize,
    problems: Vec<String>,
}

impl Tally {
    fn problem(&mut self, text: String) {
        self.problems.push(text);
    }
}

/// Settings of the runs under faults and kills: short attempts (so a slow answer is a timeout),
/// quick polls. The clean runs after them keep the default attempt timeout.
const FAULTY: &[(&str, &str)] = &[
    ("DEPLOYER_AWS_ATTEMPT_TIMEOUT", "3"),
    ("DEPLOYER_POLL_INTERVAL", "0.1"),
];
const CLEAN: &[(&str, &str)] = &[("DEPLOYER_POLL_INTERVAL", "0.1")];

fn run(project: &Project, args: &[&str]) -> Run {
    run_with(project, args, CLEAN)
}

fn run_with(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--profile", "test"]);
    let output = project
        .command_for(&full)
        .envs(env.iter().copied())
        .output()
        .expect("deployer runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Start deployer, and kill it (SIGKILL) once the simulator has let its k-th change through.
/// Returns whether the kill happened (a run with fewer changes ends by itself).
fn run_killed(project: &Project, simulator: &Simulator, args: &[&str]) -> bool {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--profile", "test"]);
    let mut child = project
        .command_for(&full)
        .envs(FAULTY.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("deployer starts");
    let begun = Instant::now();
    loop {
        let stats = simulator.stats();
        if std::env::var_os("RELIABILITY_VERBOSE").is_some()
            && begun.elapsed().as_millis() % 1000 < 25
        {
            let log = stats["log"].as_array().cloned().unwrap_or_default();
            let _ = writeln!(
                std::io::stderr(),
                "reliability: {} {:.1}s killed={} requests={} mutating={} last={:?}",
                project.stack,
                begun.elapsed().as_secs_f64(),
                stats["killed"],
                stats["requests"],
                stats["mutating"],
                log.last()
            );
        }
        if stats["killed"] == json!(true) {
            let _ = child.kill();
            let _ = child.wait();
            return true;
        }
        if child.try_wait().unwrap().is_some() || begun.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Count the stack's resources: duplicates (more than one of a kind) and orphans (tagged for the
/// stack but not wanted by the profile: builders, stray instances, the builder's group).
async fn inventory(aws: &Clients, stack: &str) -> (usize, usize, Vec<String>) {
    let mut duplicates = 0;
    let mut orphans = 0;
    let mut notes = Vec::new();
    let groups = security_groups(aws, stack).await;
    let wanted: Vec<String> = ["lb", "nodes", "db", "cache"]
        .iter()
        .map(|t| format!("{stack}-{t}"))
        .collect();
    for name in groups.keys() {
        if !wanted.contains(name) {
            orphans += 1;
            notes.push(format!("orphan security group {name}"));
        }
    }
    for name in &wanted {
        if !groups.contains_key(name) {
            notes.push(format!("missing security group {name}"));
        }
    }
    let images = images(aws, stack).await.len();
    if images != 1 {
        duplicates += images.saturating_sub(1);
        notes.push(format!("{images} images"));
    }
    let group = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("{stack}-nodes"))
        .send()
        .await
        .unwrap();
    let members: Vec<String> = group
        .auto_scaling_groups()
        .iter()
        .flat_map(|g| g.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    if group.auto_scaling_groups().len() != 1 || members.len() != 2 {
        notes.push(format!("group has {} instances", members.len()));
        duplicates += members.len().saturating_sub(2);
    }
    let instances = aws
        .ec2
        .describe_instances()
        .filters(tag("deployer:stack", stack))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .set_values(Some(
                    ["pending", "running", "stopping", "stopped"]
                        .map(String::from)
                        .to_vec(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    for instance in instances.reservations().iter().flat_map(|r| r.instances()) {
        let id = instance.instance_id().unwrap().to_string();
        if !members.contains(&id) {
            orphans += 1;
            notes.push(format!("orphan instance {id}"));
        }
    }
    let secrets = aws
        .secrets
        .list_secrets()
        .filters(
            aws_sdk_secretsmanager::types::Filter::builder()
                .key(aws_sdk_secretsmanager::types::FilterNameStringType::TagValue)
                .values(stack)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let live_secrets = secrets
        .secret_list()
        .iter()
        .filter(|s| s.deleted_date().is_none())
        .count();
    if live_secrets != 1 {
        duplicates += live_secrets.saturating_sub(1);
        notes.push(format!("{live_secrets} secrets"));
    }
    let templates = aws
        .ec2
        .describe_launch_templates()
        .filters(tag("deployer:stack", stack))
        .send()
        .await
        .unwrap();
    if templates.launch_templates().len() != 1 {
        duplicates += templates.launch_templates().len().saturating_sub(1);
        notes.push(format!(
            "{} launch templates",
            templates.launch_templates().len()
        ));
    }
    (duplicates, orphans, notes)
}

/// The generated secret values of the stack: the database password and the cache AUTH token.
async fn secret_values(aws: &Clients, stack: &str) -> Vec<String> {
    let mut values = Vec::new();
    if let Ok(db) = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(format!("{stack}-db"))
        .send()
        .await
        && let Some(arn) = db.db_instances()[0]
            .master_user_secret()
            .and_then(|s| s.secret_arn())
        && let Ok(secret) = aws.secrets.get_secret_value().secret_id(arn).send().await
        && let Some(text) = secret.secret_string()
    {
        let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        values.push(parsed["password"].as_str().unwrap_or(text).to_string());
    }
    if let Ok(secret) = aws
        .secrets
        .get_secret_value()
        .secret_id(format!("deployer/{stack}/cache-auth-token"))
        .send()
        .await
        && let Some(text) = secret.secret_string()
    {
        values.push(text.to_string());
    }
    values.retain(|v| v.len() >= 8);
    values
}

/// After a faulty or killed run: a clean apply converges and all checks hold; then destroy.
/// Returns whether it converged.
async fn settle(
    aws: &Clients,
    project: &Project,
    mut outputs: Vec<Run>,
    tally: &Mutex<Tally>,
) -> bool {
    let stack = &project.stack;
    let clean = run(project, &["apply", "--yes"]);
    let plan = run(
        project,
        &["plan", "--detailed-exitcode", "--out", "check.plan"],
    );
    let (duplicates, orphans, notes) = inventory(aws, stack).await;
    let secrets = secret_values(aws, stack).await;
    let saved = std::fs::read_to_string(project.path().join("check.plan")).unwrap_or_default();
    let converged = clean.code == 0 && plan.code == 0 && duplicates == 0 && orphans == 0;
    outputs.push(clean);
    outputs.push(plan);
    let mut exposed = 0;
    for secret in &secrets {
        exposed += outputs
            .iter()
            .filter(|o| o.all().contains(secret.as_str()))
            .count();
        exposed += usize::from(saved.contains(secret.as_str()));
    }
    let destroy = run(project, &["destroy", "--yes", "--skip-final-snapshot"]);
    let leaks = tagged_leftovers(aws, stack).await;
    let mut tally = tally.lock().unwrap();
    tally.duplicates += duplicates;
    tally.orphans += orphans;
    tally.secrets += exposed;
    tally.leaks += leaks.len();
    if !converged {
        let last = &outputs[outputs.len() - 2];
        tally.problem(format!(
            "{stack}: did not converge ({}; apply exit {}: {})",
            notes.join(", "),
            last.code,
            last.stderr
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    if destroy.code != 0 || !leaks.is_empty() {
        tally.problem(format!(
            "{stack}: destroy left {leaks:?} (exit {}: {})",
            destroy.code,
            tail(&destroy.stderr)
        ));
    }
    converged
}

/// The last lines of a run's stderr, newest first, on one line.
fn tail(stderr: &str) -> String {
    stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
}

/// The stack's profile with a VPC of its own (two zones, a NAT gateway in each).
const OWN_VPC: &str = "[network]\nvpc = \"create\"\nzones = 2\n";

fn project(prefix: &str, simulator: &Simulator) -> Project {
    project_with(prefix, simulator, false)
}

/// A project of the suite's stack; `own_vpc`: in a VPC deployer creates.
fn project_with(prefix: &str, simulator: &Simulator, own_vpc: bool) -> Project {
    let profile = if own_vpc {
        format!("{STACK}{OWN_VPC}")
    } else {
        STACK.to_string()
    };
    let mut project = Project::new(prefix, &profile);
    project.endpoint = Some(simulator.url());
    project
}

/// A run of the suite: what to do to a fresh stack before it must converge.
#[derive(Clone, Debug)]
enum Job {
    /// Apply with faults at this rate, then converge (`own_vpc`: a stack whose VPC deployer
    /// creates).
    Faults { seed: u64, rate: f64, own_vpc: bool },
    /// Kill deployer after its k-th change during apply, bake or destroy, then converge.
    Kill {
        command: &'static str,
        k: usize,
        own_vpc: bool,
    },
    /// A first apply while what it creates stays invisible for `seconds`: it must converge alone.
    Consistency { seconds: f64 },
    /// Applies while no node passes the load balancer's health check: the first and the next must
    /// both fail naming it (never "Apply complete"), then converge once the nodes serve.
    Unhealthy { n: usize },
}

async fn perform(job: Job, simulator: &Simulator, aws: &Clients, tally: &Mutex<Tally>) {
    let quiet = json!({"builder_power_off": POWER_OFF});
    match job {
        Job::Faults {
            seed,
            rate,
            own_vpc,
        } => {
            let prefix = format!("{}{seed}", if own_vpc { "fv" } else { "f" });
            let project = project_with(&prefix, simulator, own_vpc);
            simulator.configure(json!({
                "seed": seed,
                "faults": {"probability": rate, "slow_seconds": 4.0},
                "builder_power_off": POWER_OFF,
            }));
            let faulty =
                tokio::task::block_in_place(|| run_with(&project, &["apply", "--yes"], FAULTY));
            simulator.configure(quiet);
            let ok = settle(aws, &project, vec![faulty], tally).await;
            let mut tally = tally.lock().unwrap();
            tally.faults.1 += 1;
            tally.faults.0 += usize::from(ok);
        }
        Job::Consistency { seconds } => {
            let project = project(&format!("c{}", (seconds * 10.0) as u32), simulator);
            simulator.configure(json!({
                "consistency": {"default": seconds},
                "builder_power_off": POWER_OFF,
            }));
            let first = tokio::task::block_in_place(|| run(&project, &["apply", "--yes"]));
            simulator.configure(quiet);
            let alone = first.code == 0;
            if !alone {
                tally.lock().unwrap().problem(format!(
                    "{}: the first apply with {seconds}s of eventual consistency failed: {}",
                    project.stack,
                    tail(&first.stderr)
                ));
            }
            let ok = settle(aws, &project, vec![first], tally).await && alone;
            let mut tally = tally.lock().unwrap();
            tally.consistency.1 += 1;
            tally.consistency.0 += usize::from(ok);
        }
        Job::Unhealthy { n } => {
            let mut project = Project::new(
                &format!("u{n}"),
                &format!("{STACK}\n[scaling]\nroll_timeout = \"10s\"\n"),
            );
            project.endpoint = Some(simulator.url());
            simulator.configure(json!({"out_of_service": "all", "builder_power_off": POWER_OFF}));
            let first = tokio::task::block_in_place(|| run(&project, &["apply", "--yes"]));
            let again = tokio::task::block_in_place(|| run(&project, &["apply", "--yes"]));
            simulator.configure(quiet);
            let refused = |r: &Run| {
                r.code == 1
                    && r.stderr.contains("did not pass its instances")
                    && r.stderr.contains("(health check HTTP:")
                    && !r.all().contains("Apply complete")
            };
            let failed = refused(&first) && refused(&again);
            if !failed {
                tally.lock().unwrap().problem(format!(
                    "{}: an apply while no node passes the health check did not fail as it must: exits {} and {}: {} / {}",
                    project.stack,
                    first.code,
                    again.code,
                    tail(&first.stderr),
                    tail(&again.stderr)
                ));
            }
            let ok = settle(aws, &project, vec![first, again], tally).await && failed;
            let mut tally = tally.lock().unwrap();
            tally.unhealthy.1 += 1;
            tally.unhealthy.0 += usize::from(ok);
        }
        Job::Kill {
            command,
            k,
            own_vpc,
        } => {
            let vpc = if own_vpc { "v" } else { "" };
            let prefix = format!("k{k}{}{vpc}", &command[..1]);
            let project = project_with(&prefix, simulator, own_vpc);
            if command == "destroy" {
                simulator.configure(quiet.clone());
                let setup = tokio::task::block_in_place(|| run(&project, &["apply", "--yes"]));
                assert_eq!(setup.code, 0, "{}", setup.all());
            }
            simulator.configure(json!({
                "kill": {"after_mutating": k, "mode": "hang"},
                "builder_power_off": POWER_OFF,
            }));
            let args: &[&str] = match command {
                "destroy" => &["destroy", "--yes", "--skip-final-snapshot"],
                "bake" => &["bake", "--yes"],
                _ => &["apply", "--yes"],
            };
            let killed = tokio::task::block_in_place(|| run_killed(&project, simulator, args));
            simulator.configure(quiet);
            let ok = if command == "destroy" {
                // Destroy again: it finishes the job and leaves nothing.
                let again = tokio::task::block_in_place(|| {
                    run(&project, &["destroy", "--yes", "--skip-final-snapshot"])
                });
                let leaks = tagged_leftovers(aws, &project.stack).await;
                let mut tally = tally.lock().unwrap();
                tally.leaks += leaks.len();
                if again.code != 0 || !leaks.is_empty() {
                    tally.problem(format!(
                        "{}: destroy after a kill at {k} left {leaks:?} (exit {}: {})",
                        project.stack, again.code, again.stderr
                    ));
                }
                again.code == 0 && leaks.is_empty()
            } else {
                settle(aws, &project, vec![], tally).await
            };
            let mut tally = tally.lock().unwrap();
            tally.kills.1 += 1;
            tally.kills.0 += usize::from(ok);
            if !killed {
                tally.problem(format!("{command} never made {k} changes"));
            }
        }
    }
}

/// Two applies started together: exactly one proceeds, the other is refused naming the holder.
async fn concurrent_applies(simulator: &Simulator) -> Result<(), String> {
    let project = project("pair", simulator);
    simulator.configure(json!({"latency": {"default": 0.02}, "builder_power_off": POWER_OFF}));
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| run(&project, &["apply", "--yes"]));
        let b = scope.spawn(|| run(&project, &["apply", "--yes"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    simulator.configure(json!({"builder_power_off": POWER_OFF}));
    let _ = run(&project, &["destroy", "--yes", "--skip-final-snapshot"]);
    let mut codes = [first.code, second.code];
    codes.sort();
    let refused = if first.code == 1 { &first } else { &second };
    if codes != [0, 1]
        || !refused
            .stderr
            .contains(&format!("stack {} is locked: `apply` by", project.stack))
    {
        return Err(format!(
            "two applies at once: exits {codes:?}; {}",
            refused.stderr
        ));
    }
    Ok(())
}

/// Broken profiles: each gets exit 1 and a located message, never a panic.
fn broken_profiles() -> Result<usize, String> {
    let base = "stack = \"bad\"\n[node]\nimage = \"ami-760aaa0f\"\n[[load_balancer.listeners]]\nport = 80\nprotocol = \"HTTP\"\ninstance_port = 80\nallow = [\"0.0.0.0/0\"]\n";
    let cases: Vec<String> = vec![
        "stack = \"bad\n".into(),
        "stack = 5\n".into(),
        base.replace("stack = \"bad\"", "stack = \"Bad_Name\""),
        base.replace(
            "stack = \"bad\"",
            "stack = \"a-very-long-stack-name-for-elb-x\"",
        ),
        format!("{base}colour = \"blue\"\n"),
        format!("{base}[database]\nsize = 1\n"),
        format!("{base}[database]\nport = \"5432\"\n"),
        format!("{base}[database]\nport = 80\n"),
        format!("{base}[database]\nengine_version = \"9.3\"\n"),
        format!("{base}[database]\nbackup_retention_days = 1\n"),
        format!("{base}[database]\nusername = \"rdsadmin\"\n"),
        format!("{base}[cache]\nengine_version = \"3.2.0\"\n"),
        format!("{base}[cache]\nreplicas = 0\n"),
        format!("{base}[cache]\nnode_type = \"m3.medium\"\n"),
        format!("{base}[scaling]\nmin = 5\nmax = 2\n"),
        format!("{base}[scaling]\ndesired = 99\n"),
        format!("{base}[scaling]\nroll_batch = \"0\"\n"),
        format!("{base}[scaling]\nroll_timeout = \"soon\"\n"),
        format!(
            "{base}[[scaling.target_tracking]]\nname = \"rps\"\nmetric = \"request_count\"\ntarget = 100.0\n"
        ),
        format!("{base}[[scaling.scheduled]]\nname = \"x\"\nrecurrence = \"0 8 *\"\nmin = 1\n"),
        base.replace("protocol = \"HTTP\"", "protocol = \"HTTPS\""),
        base.replace("protocol = \"HTTP\"", "protocol = \"FTP\""),
        base.replace("allow = [\"0.0.0.0/0\"]", "allow = [\"0.0.0.0/33\"]"),
        base.replace("allow = [\"0.0.0.0/0\"]", "allow = []"),
        base.replace("port = 80\n", "port = 0\n"),
        format!("{base}[load_balancer]\nhealth_check = {{ target = \"HTTP:80\" }}\n"),
        format!("{base}[load_balancer]\nidle_timeout = 0\n"),
        base.replace("image = \"ami-760aaa0f\"", "image = \"ubuntu\""),
        base.replace("image = \"ami-760aaa0f\"", ""),
        base.replace(
            "image = \"ami-760aaa0f\"",
            "boot_template = \"templates/missing.j2\"\nimage = \"ami-760aaa0f\"",
        ),
        format!("extends = \"nowhere\"\n{base}"),
        format!("{base}[node.vars]\n\"bad name\" = \"x\"\n"),
    ];
    // Templates: an undefined variable, and bad syntax.
    let template_cases = [
        "#!/bin/sh\necho {{ database.host }}\n",
        "#!/bin/sh\necho {{ stack \n",
    ];
    let mut checked = 0;
    for (index, text) in cases
        .iter()
        .map(String::as_str)
        .chain(std::iter::repeat_n(base, template_cases.len()))
        .enumerate()
    {
        let project = Project::standalone("bad", "");
        project.write("profiles/test.toml", text);
        if let Some(template) = index.checked_sub(cases.len()).map(|i| template_cases[i]) {
            project.write("templates/boot.sh.j2", template);
        }
        let run = project.run(&["validate"]);
        let location = run.stderr.contains("profiles/test.toml:")
            || run.stderr.contains("profiles/nowhere.toml");
        if run.code != 1 || !location || run.stderr.contains("panicked") {
            return Err(format!(
                "case {index}: exit {}:\n{text}\n{}",
                run.code, run.stderr
            ));
        }
        checked += 1;
    }
    Ok(checked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 6)]
async fn reliability_suite() {
    let aws = clients().await;
    let tally = Mutex::new(Tally::default());
    let mut jobs: Vec<Job> = (1..=40)
        .map(|seed| Job::Faults {
            seed,
            rate: 0.05 + 0.01 * (seed % 6) as f64,
            own_vpc: false,
        })
        .collect();
    // A stack in a VPC of its own: faults, and an apply and a destroy killed part-way through its
    // network (the VPC, subnets and gateways come first and go last).
    jobs.push(Job::Faults {
        seed: 41,
        rate: 0.08,
        own_vpc: true,
    });
    for (command, k) in [("apply", 5), ("destroy", 24)] {
        jobs.push(Job::Kill {
            command,
            k,
            own_vpc: true,
        });
    }
    // A full apply makes about 30 changes (a few more or fewer as retries and timing go).
    for k in [1, 2, 3, 4, 6, 8, 10, 13, 16, 19, 23, 27] {
        jobs.push(Job::Kill {
            command: "apply",
            k,
            own_vpc: false,
        });
    }
    for k in 1..=6 {
        jobs.push(Job::Kill {
            command: "bake",
            k,
            own_vpc: false,
        });
    }
    for seconds in [1.0, 2.0, 3.0, 5.0] {
        jobs.push(Job::Consistency { seconds });
    }
    for n in 1..=2 {
        jobs.push(Job::Unhealthy { n });
    }
    for k in 1..=12 {
        jobs.push(Job::Kill {
            command: "destroy",
            k,
            own_vpc: false,
        });
    }
    // RELIABILITY_ONLY=<text> runs only the jobs whose description contains it (for debugging).
    if let Ok(only) = std::env::var("RELIABILITY_ONLY") {
        jobs.retain(|job| format!("{job:?}").contains(&only));
    }
    let queue = Mutex::new(jobs);
    let workers = 4;
    let simulators: Vec<Simulator> = (0..workers).map(|_| Simulator::start()).collect();
    let begun = Instant::now();
    // One thread per worker: a job spends most of its time in blocking calls (deployer runs as a
    // child process), so workers polled as futures of one task would take turns.
    let runtime = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            for simulator in &simulators {
                let (queue, aws, tally, runtime) = (&queue, &aws, &tally, &runtime);
                scope.spawn(move || {
                    loop {
                        let Some(job) = queue.lock().unwrap().pop() else {
                            break;
                        };
                        let started = Instant::now();
                        let label = format!("{job:?}");
                        runtime.block_on(perform(job, simulator, aws, tally));
                        if std::env::var_os("RELIABILITY_VERBOSE").is_some() {
                            let _ = writeln!(
                                std::io::stderr(),
                                "reliability: {label} took {:.1}s",
                                started.elapsed().as_secs_f64()
                            );
                        }
                    }
                });
            }
        })
    });
    let locks = concurrent_applies(&simulators[0]).await;
    let bad = tokio::task::block_in_place(broken_profiles);
    let tally = tally.into_inner().unwrap();
    // Every job ran with the shipped IAM policy enforced: what it refused, from every simulator.
    let denials: Vec<String> = simulators.iter().flat_map(Simulator::denials).collect();
    let summary = format!(
        "reliability: faults {}/{} converged, consistency {}/{} first apply, iam denials {}, unhealthy-node applies failed {}/{}, kills {}/{} resumed, orphans {}, duplicates {}, leaks {}, secrets exposed {}, locks {}, bad profiles {} ({:.0}s)",
        tally.faults.0,
        tally.faults.1,
        tally.consistency.0,
        tally.consistency.1,
        denials.len(),
        tally.unhealthy.0,
        tally.unhealthy.1,
        tally.kills.0,
        tally.kills.1,
        tally.orphans,
        tally.duplicates,
        tally.leaks,
        tally.secrets,
        if locks.is_ok() { "ok" } else { "FAILED" },
        match &bad {
            Ok(n) => format!("{n}/{n} refused"),
            Err(_) => "FAILED".into(),
        },
        begun.elapsed().as_secs_f64()
    );
    // Past the test harness's capture: the figure is the point of the suite.
    let _ = writeln!(std::io::stderr(), "{summary}");
    assert!(
        tally.problems.is_empty(),
        "{summary}\n{}",
        tally.problems.join("\n")
    );
    assert_eq!(tally.faults.0, tally.faults.1, "{summary}");
    assert_eq!(tally.kills.0, tally.kills.1, "{summary}");
    assert_eq!(tally.consistency.0, tally.consistency.1, "{summary}");
    assert_eq!(tally.unhealthy.0, tally.unhealthy.1, "{summary}");
    assert!(denials.is_empty(), "{summary}\n{denials:#?}");
    assert_eq!(
        (tally.orphans, tally.duplicates, tally.leaks, tally.secrets),
        (0, 0, 0, 0),
        "{summary}"
    );
    locks.unwrap();
    bad.unwrap();
}
