//! Scaling and rolling: `deployer scale` and the applies after it, policies and schedules, and
//! the health-gated roll of a new launch template version (with rollback and resume).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::check::group;
use crate::harness::{Clients, Project, clients};

fn stateless(extra: &str) -> String {
    format!(
        r#"
[node]
image = "ami-760aaa0f"
instance_type = "t3.micro"

[[load_balancer.listeners]]
port = 80
protocol = "HTTP"
instance_port = 80
allow = ["0.0.0.0/0"]

[scaling]
min = 2
max = 4
{extra}
"#
    )
}

fn capacity(group: &aws_sdk_autoscaling::types::AutoScalingGroup) -> (i32, i32, i32) {
    (
        group.min_size().unwrap(),
        group.max_size().unwrap(),
        group.desired_capacity().unwrap(),
    )
}

fn tag_of(group: &aws_sdk_autoscaling::types::AutoScalingGroup, key: &str) -> Option<String> {
    group
        .tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(str::to_string)
}

/// Launch template versions of the group's instances.
async fn versions(aws: &Clients, stack: &str) -> Vec<String> {
    let mut versions: Vec<String> = group(aws, stack)
        .await
        .instances()
        .iter()
        .filter_map(|i| i.launch_template().and_then(|t| t.version()))
        .map(str::to_string)
        .collect();
    versions.sort();
    versions
}

async fn in_service(aws: &Clients, stack: &str) -> usize {
    aws.elb
        .describe_instance_health()
        .load_balancer_name(format!("{stack}-lb"))
        .send()
        .await
        .map(|h| {
            h.instance_states()
                .iter()
                .filter(|s| s.state() == Some("InService"))
                .count()
        })
        .unwrap_or(0)
}

/// Stop every instance of the group that runs `version` (they fail the health check).
fn sicken(
    aws: &Clients,
    stack: &str,
    version: &str,
    on: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let aws = aws.clone();
    let stack = stack.to_string();
    let version = version.to_string();
    tokio::spawn(async move {
        loop {
            if on.load(Ordering::SeqCst)
                && let Ok(found) = aws
                    .autoscaling
                    .describe_auto_scaling_groups()
                    .auto_scaling_group_names(format!("{stack}-nodes"))
                    .send()
                    .await
            {
                for group in found.auto_scaling_groups() {
                    for instance in group.instances() {
                        if instance.launch_template().and_then(|t| t.version())
                            == Some(version.as_str())
                        {
                            let _ = aws
                                .ec2
                                .stop_instances()
                                .instance_ids(instance.instance_id().unwrap())
                                .send()
                                .await;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn scale_changes_the_group_and_later_applies_keep_it_until_reset() {
    let aws = clients().await;
    let project = Project::standalone("scale", &stateless(""));
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();
    assert_eq!(capacity(&group(&aws, &stack).await), (2, 4, 2));

    let scaled = project
        .run(&["scale", "--max", "10", "--desired", "5"])
        .ok();
    assert!(
        scaled.stdout.contains(&format!(
            "auto scaling group {stack}-nodes: min 2 -> 2, max 4 -> 10, desired 2 -> 5"
        )),
        "{}",
        scaled.all()
    );
    let live = group(&aws, &stack).await;
    assert_eq!(capacity(&live), (2, 10, 5));
    assert!(
        tag_of(&live, "deployer:scale")
            .unwrap()
            .starts_with("min=2 max=10 desired=5 at=")
    );

    // Plan and apply keep the scale-out, even when applying other changes.
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("capacity min 2 max 10 (set by deployer scale at "),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("profile says 2..4): kept"),
        "{}",
        plan.stdout
    );
    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{stack}\"\n{}",
            stateless("").replace("[scaling]", "[load_balancer]\nidle_timeout = 90\n[scaling]")
        ),
    );
    project.run(&["apply", "--yes"]).ok();
    assert_eq!(capacity(&group(&aws, &stack).await), (2, 10, 5));

    // --reset-scale returns to the profile (the desired capacity clamped into it).
    let reset = project.run(&["apply", "--yes", "--reset-scale"]).ok();
    assert!(
        reset.stdout.contains("max_size: 10 -> 4"),
        "{}",
        reset.stdout
    );
    let live = group(&aws, &stack).await;
    assert_eq!(capacity(&live), (2, 4, 4));
    assert_eq!(tag_of(&live, "deployer:scale"), None);
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);
    project.run(&["destroy", "--yes"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_scale_arguments_are_refused_before_any_change() {
    let aws = clients().await;
    let project = Project::standalone("badscale", &stateless(""));
    let stack = project.stack.clone();
    // No group exists: these are refused from the arguments alone.
    let run = project.run(&["scale", "--min", "5", "--max", "3"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("--min: min (5) is greater than max (3)"),
        "{}",
        run.stderr
    );
    let run = project.run(&["scale", "--max", "20000"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("--max: 20000 is out of range"),
        "{}",
        run.stderr
    );
    let run = project.run(&["scale"]);
    assert_eq!(run.code, 1, "{}", run.all());

    // With the live group: a max below its min is refused, and nothing changes.
    project.run(&["apply", "--yes"]).ok();
    let run = project.run(&["scale", "--max", "1"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("min (2) is greater than max (1)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    // A maximum the account's On-Demand vCPU quota (1152 in the emulator's account) cannot
    // hold: 600 × t3.micro is 1200 vCPUs. Refused with the request that raises the quota.
    let run = project.run(&["scale", "--max", "600"]);
    assert_eq!(run.code, 1, "{}", run.all());
    for expected in [
        "--max: at its maximum the group runs 600 × t3.micro (2 vCPUs): 1200 On-Demand standard vCPUs, and the rest of the account uses ",
        "is over the account's quota of 1152 in us-east-1 (Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances) [quota.exceeded]",
        "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-1216C47A --desired-value",
        "nothing was changed",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\n{}", run.stderr);
    }
    let live = group(&aws, &stack).await;
    assert_eq!(capacity(&live), (2, 4, 2));
    assert_eq!(tag_of(&live, "deployer:scale"), None);
    project.run(&["destroy", "--yes"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_schedules_warmup_and_termination_policies_follow_the_profile() {
    let aws = clients().await;
    let with = |target: &str, recurrence: &str| {
        stateless(&format!(
            r#"instance_warmup = 120
termination_policies = ["OldestLaunchTemplate", "Default"]

[[scaling.target_tracking]]
name = "cpu"
metric = "cpu"
target = {target}

[[scaling.scheduled]]
name = "business-hours"
recurrence = "{recurrence}"
min = 3
max = 4
time_zone = "Europe/Berlin"
"#
        ))
    };
    let project = Project::standalone("policy", &with("60.0", "0 8 * * MON-FRI"));
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();
    let policies = |aws: Clients, stack: String| async move {
        let found = aws
            .autoscaling
            .describe_policies()
            .auto_scaling_group_name(format!("{stack}-nodes"))
            .send()
            .await
            .unwrap();
        found
            .scaling_policies()
            .iter()
            .map(|p| {
                let t = p.target_tracking_configuration().unwrap();
                (
                    p.policy_name().unwrap().to_string(),
                    t.predefined_metric_specification()
                        .unwrap()
                        .predefined_metric_type()
                        .unwrap()
                        .as_str()
                        .to_string(),
                    t.target_value(),
                )
            })
            .collect::<Vec<_>>()
    };
    let schedules = |aws: Clients, stack: String| async move {
        let found = aws
            .autoscaling
            .describe_scheduled_actions()
            .auto_scaling_group_name(format!("{stack}-nodes"))
            .send()
            .await
            .unwrap();
        found
            .scheduled_update_group_actions()
            .iter()
            .map(|a| {
                (
                    a.scheduled_action_name().unwrap().to_string(),
                    a.recurrence().unwrap().to_string(),
                    a.min_size(),
                    a.max_size(),
                    a.time_zone().map(str::to_string),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        policies(aws.clone(), stack.clone()).await,
        vec![(
            "cpu".to_string(),
            "ASGAverageCPUUtilization".to_string(),
            Some(60.0)
        )]
    );
    assert_eq!(
        schedules(aws.clone(), stack.clone()).await,
        vec![(
            "business-hours".to_string(),
            "0 8 * * MON-FRI".to_string(),
            Some(3),
            Some(4),
            Some("Europe/Berlin".to_string())
        )]
    );
    let live = group(&aws, &stack).await;
    assert_eq!(live.default_instance_warmup(), Some(120));
    assert_eq!(
        live.termination_policies(),
        ["OldestLaunchTemplate", "Default"]
    );
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);

    // Updated in place.
    project.write(
        "profiles/test.toml",
        &format!("stack = \"{stack}\"\n{}", with("75.0", "0 7 * * MON-FRI")),
    );
    let plan = project.run(&["plan", "--output", "json"]).ok();
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let mut changed: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "none")
        .map(|s| {
            format!(
                "{} {}",
                s["action"].as_str().unwrap(),
                s["resource"].as_str().unwrap()
            )
        })
        .collect();
    changed.sort();
    assert_eq!(
        changed,
        vec![
            "update scaling policy cpu".to_string(),
            "update scheduled action business-hours".to_string()
        ]
    );
    project.run(&["apply", "--yes"]).ok();
    assert_eq!(policies(aws.clone(), stack.clone()).await[0].2, Some(75.0));
    assert_eq!(
        schedules(aws.clone(), stack.clone()).await[0].1,
        "0 7 * * MON-FRI"
    );

    // Removed from the profile: deleted.
    project.write(
        "profiles/test.toml",
        &format!("stack = \"{stack}\"\n{}", stateless("")),
    );
    let removed = project.run(&["apply", "--yes"]).ok();
    assert!(
        removed.stdout.contains("- scaling policy cpu: delete"),
        "{}",
        removed.stdout
    );
    assert!(policies(aws.clone(), stack.clone()).await.is_empty());
    assert!(schedules(aws.clone(), stack.clone()).await.is_empty());
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);
    project.run(&["destroy", "--yes"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_rolls_every_instance_without_losing_capacity() {
    let aws = clients().await;
    let project = Project::standalone("roll", &stateless("desired = 3"));
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();
    assert_eq!(versions(&aws, &stack).await, vec!["1", "1", "1"]);

    // Sample the load balancer's InService count through the roll.
    let lowest = Arc::new(AtomicUsize::new(usize::MAX));
    let done = Arc::new(AtomicBool::new(false));
    // And whether Auto Scaling's zone rebalancing was held off meanwhile.
    let suspended = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (aws, stack, lowest, done) = (aws.clone(), stack.clone(), lowest.clone(), done.clone());
        let suspended = suspended.clone();
        tokio::spawn(async move {
            let mut samples = 0;
            while !done.load(Ordering::SeqCst) {
                lowest.fetch_min(in_service(&aws, &stack).await, Ordering::SeqCst);
                if group(&aws, &stack)
                    .await
                    .suspended_processes()
                    .iter()
                    .any(|p| p.process_name() == Some("AZRebalance"))
                {
                    suspended.store(true, Ordering::SeqCst);
                }
                samples += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            samples
        })
    };
    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{stack}\"\n{}",
            stateless("desired = 3").replace("t3.micro", "t3.small")
        ),
    );
    let plan = project.run(&["plan"]).ok();
    assert!(
        plan.stdout.contains("roll: 1 instance(s) at a time"),
        "{}",
        plan.stdout
    );
    let rolled = project.run(&["apply", "--yes"]).ok();
    done.store(true, Ordering::SeqCst);
    let samples = sampler.await.unwrap();
    assert!(
        rolled.stderr.contains("rolling to v2: batch 3 of 3"),
        "{}",
        rolled.stderr
    );
    assert_eq!(versions(&aws, &stack).await, vec!["2", "2", "2"]);
    let live = group(&aws, &stack).await;
    assert_eq!(capacity(&live), (2, 4, 3));
    assert!(
        suspended.load(Ordering::SeqCst),
        "AZRebalance was never suspended during the roll"
    );
    assert!(
        live.suspended_processes().is_empty(),
        "the roll left processes suspended: {:?}",
        live.suspended_processes()
    );
    assert_eq!(tag_of(&live, "deployer:roll"), None);
    assert!(samples > 3, "only {samples} samples");
    assert!(
        lowest.load(Ordering::SeqCst) >= 3,
        "InService dropped to {}",
        lowest.load(Ordering::SeqCst)
    );
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);
    project.run(&["destroy", "--yes"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_roll_whose_new_instances_stay_unhealthy_is_rolled_back() {
    let aws = clients().await;
    let profile = stateless("roll_timeout = \"10s\"");
    let project = Project::standalone("rollback", &profile);
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();
    let sick = sicken(&aws, &stack, "2", Arc::new(AtomicBool::new(true)));

    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{stack}\"\n{}",
            profile.replace("t3.micro", "t3.small")
        ),
    );
    // A slower poll leaves the sickening player time to act before deployer's second look.
    let run = project.run(&["apply", "--yes", "--poll-interval", "1"]);
    sick.abort();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("did not pass the load balancer's health check within 10.0s"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("OutOfService"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Rolled back: the group runs launch template version 1 again, with 2 instance(s) and max 4"),
        "{}",
        run.stderr
    );
    let live = group(&aws, &stack).await;
    assert_eq!(live.launch_template().unwrap().version(), Some("1"));
    assert_eq!(capacity(&live), (2, 4, 2));
    assert_eq!(versions(&aws, &stack).await, vec!["1", "1"]);
    assert_eq!(tag_of(&live, "deployer:roll"), None);
    project.run(&["destroy", "--yes"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_roll_is_resumed_by_the_next_apply() {
    let aws = clients().await;
    let project = Project::standalone("resume", &stateless(""));
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();
    let on = Arc::new(AtomicBool::new(true));
    let sick = sicken(&aws, &stack, "2", on.clone());
    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{stack}\"\n{}",
            stateless("").replace("t3.micro", "t3.small")
        ),
    );
    let mut child = project.spawn(&["apply", "--yes"]);
    // Kill deployer while it waits for the surge's (sick) instance.
    let mut waited = 0;
    loop {
        let live = group(&aws, &stack).await;
        if tag_of(&live, "deployer:roll").is_some()
            && versions(&aws, &stack).await.contains(&"2".to_string())
        {
            break;
        }
        waited += 1;
        assert!(waited < 300, "the roll never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    on.store(false, Ordering::SeqCst);
    sick.abort();

    let plan = project.run(&["plan"]).ok();
    assert!(
        plan.stdout.contains("a roll was interrupted"),
        "{}",
        plan.stdout
    );
    project.run(&["apply", "--yes"]).ok();
    let live = group(&aws, &stack).await;
    assert_eq!(versions(&aws, &stack).await, vec!["2", "2"]);
    assert_eq!(capacity(&live), (2, 4, 2));
    assert_eq!(tag_of(&live, "deployer:roll"), None);
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);
    project.run(&["destroy", "--yes"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_capacity_versions_and_instance_health() {
    let aws = clients().await;
    let project = Project::standalone("status", &stateless(""));
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();
    project.run(&["scale", "--max", "6", "--desired", "3"]).ok();
    let status = project.run(&["status", "--output", "json"]).ok();
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["group"]["desired"], 3);
    assert_eq!(status["group"]["scale_override"]["max"], 6);
    assert_eq!(status["group"]["instances_on"], "all on v1");
    let instances = status["group"]["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 3);
    let live = group(&aws, &stack).await;
    for instance in instances {
        assert_eq!(instance["health"], "InService");
        assert_eq!(instance["version"], "1");
        assert!(
            live.instances()
                .iter()
                .any(|i| i.instance_id() == instance["id"].as_str())
        );
    }
    assert!(status["outputs"]["load_balancer_dns"].is_string());
    let text = project.run(&["status"]).ok();
    assert!(
        text.stdout
            .contains("Capacity: min 2, max 6, desired 3 (set by deployer scale at"),
        "{}",
        text.stdout
    );
    project.run(&["destroy", "--yes"]).ok();
}

/// An apply does not report success while the load balancer passes no node: the group's step
/// waits for InService in the balancer, and fails naming the health target, the instances and
/// their ELB reasons.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_fails_while_the_load_balancer_passes_no_node() {
    let simulator = crate::reliability::Simulator::start();
    simulator.configure(serde_json::json!({"out_of_service": "all"}));
    let mut project = Project::standalone("unserved", &stateless("roll_timeout = \"10s\""));
    project.endpoint = Some(simulator.url());
    let run = project.run(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.all());
    for expected in [
        &format!(
            "the load balancer {}-lb did not pass its instances within 10.0s",
            project.stack
        ),
        "(health check HTTP:80/",
        "OutOfService (Instance: Instance has failed at least the UnhealthyThreshold",
        "console:",
    ] {
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
    }
    assert!(!run.all().contains("Apply complete"), "{}", run.all());

    // The group it left is not done: plan shows its instances out of service, and the next apply
    // waits for them again rather than reporting a stack that serves nothing as complete.
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stdout
            .contains(&format!("0 of 2 InService in {}-lb", project.stack)),
        "{}",
        plan.stdout
    );
    let again = project.run(&["apply", "--yes"]);
    assert_eq!(again.code, 1, "{}", again.all());
    assert!(
        again.stderr.contains("did not pass its instances"),
        "{}",
        again.stderr
    );

    // Once the nodes serve the health target, apply converges and the plan is empty.
    simulator.configure(serde_json::json!({}));
    let served = project.run(&["apply", "--yes"]);
    assert_eq!(served.code, 0, "{}", served.all());
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());

    project.run(&["destroy", "--yes"]).ok();
}
