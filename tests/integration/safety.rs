//! What deployer refuses to do: touch what it does not own, act on a broken profile, apply a
//! stale saved plan, or change anything without confirmation.

use crate::check::{group, subnets_where, tagged_leftovers};
use crate::harness::{Project, clients};

pub(crate) const SMALL: &str = r#"
[node]
image = "ami-760aaa0f"
instance_type = "t3.micro"

[[load_balancer.listeners]]
port = 80
protocol = "HTTP"
instance_port = 80
allow = ["0.0.0.0/0"]

[scaling]
min = 1
max = 2
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_same_named_resource_that_is_not_ours_is_never_touched() {
    let aws = clients().await;
    let project = Project::standalone("foreign", SMALL);
    let stack = project.stack.clone();
    let subnets = subnets_where(&aws, "default-for-az", "true").await;
    let subnet = subnets[0].subnet_id().unwrap().to_string();
    aws.elb
        .create_load_balancer()
        .load_balancer_name(format!("{stack}-lb"))
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("HTTP")
                .load_balancer_port(81)
                .instance_port(81)
                .build()
                .unwrap(),
        )
        .subnets(subnet)
        .send()
        .await
        .unwrap();

    let apply = project.run(&["apply", "--yes"]);
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(
        apply.stderr.contains(&format!(
            "load balancer {stack}-lb ({stack}-lb) exists but was not created by deployer (no deployer:stack tag)"
        )),
        "{}",
        apply.stderr
    );
    assert_eq!(
        tagged_leftovers(&aws, &stack).await,
        Vec::<String>::new(),
        "apply created something"
    );

    let destroy = project.run(&["destroy", "--yes"]);
    assert_eq!(destroy.code, 1, "{}", destroy.all());
    assert!(
        destroy
            .stderr
            .contains("warning: not deleting load balancer"),
        "{}",
        destroy.stderr
    );
    let still = aws
        .elb
        .describe_load_balancers()
        .load_balancer_names(format!("{stack}-lb"))
        .send()
        .await
        .unwrap();
    let listener = still.load_balancer_descriptions()[0].listener_descriptions()[0]
        .listener()
        .unwrap();
    assert_eq!(
        listener.load_balancer_port(),
        81,
        "the foreign load balancer was changed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_profile_or_reference_changes_nothing() {
    let aws = clients().await;
    let project = Project::standalone("broken", SMALL);
    let stack = project.stack.clone();

    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{stack}\"\n{}",
            SMALL.replace("max = 2", "max = 2\ndesired = 5")
        ),
    );
    let run = project.run(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("error: profiles/test.toml:16:11: scaling.desired: desired (5) is outside min..max (1..2)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);

    project.write(
        "templates/boot.sh.j2",
        "#!/bin/sh\necho {{ database.host }}\n",
    );
    project.write(
        "profiles/test.toml",
        &format!("stack = \"{stack}\"\n{SMALL}"),
    );
    let run = project.run(&["plan"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("node.boot_template: templates/boot.sh.j2:2: undefined value"),
        "{}",
        run.stderr
    );

    std::fs::copy(
        crate::harness::root().join("templates/boot.sh.j2"),
        project.path().join("templates/boot.sh.j2"),
    )
    .unwrap();
    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{stack}\"\n{}",
            SMALL.replace("ami-760aaa0f", "ami-00000000deadbeef")
        ),
    );
    let run = project.run(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("profiles/test.toml:4:9: node.image: image ami-00000000deadbeef does not exist in us-east-1"),
        "{}",
        run.stderr
    );

    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{stack}\"\n[network]\nsubnets = [\"subnet-00000000000000001\", \"subnet-00000000000000002\"]\n{SMALL}"
        ),
    );
    let run = project.run(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("network.subnets"), "{}", run.stderr);

    let run = project.run_raw(&["plan", "--profile", "missing"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("profiles/missing.toml"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "hint: profiles in profiles: kong, krakend, krakend-cluster, local, prod, test"
        ),
        "{}",
        run.stderr
    );

    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_refused_once_the_stack_has_changed() {
    let aws = clients().await;
    let project = Project::standalone("saved", SMALL);
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();

    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{stack}\"\n{}",
            SMALL.replace("max = 2", "max = 3")
        ),
    );
    project.run(&["plan", "--out", "grow.plan"]).ok();
    // Someone changes the stack between plan and apply.
    aws.elb
        .modify_load_balancer_attributes()
        .load_balancer_name(format!("{stack}-lb"))
        .load_balancer_attributes(
            aws_sdk_elasticloadbalancing::types::LoadBalancerAttributes::builder()
                .connection_settings(
                    aws_sdk_elasticloadbalancing::types::ConnectionSettings::builder()
                        .idle_timeout(42)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = project.run_raw(&["apply", "grow.plan"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("the stack changed since grow.plan was made"),
        "{}",
        run.stderr
    );
    assert_eq!(
        group(&aws, &stack).await.max_size(),
        Some(2),
        "the stale plan was applied"
    );

    // A fresh plan applies, repairing the drift too.
    project.run(&["plan", "--out", "grow.plan"]).ok();
    project.run_raw(&["apply", "grow.plan"]).ok();
    assert_eq!(group(&aws, &stack).await.max_size(), Some(3));
    assert_eq!(project.run(&["plan", "--detailed-exitcode"]).code, 0);

    project.run(&["destroy", "--yes"]).ok();
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_changes_without_confirmation() {
    let aws = clients().await;
    let project = Project::standalone("confirm", SMALL);
    let run = project.run(&["apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert_eq!(
        tagged_leftovers(&aws, &project.stack).await,
        Vec::<String>::new()
    );
}

/// A drift job runs `plan --detailed-exitcode`: 2 means changes and only that. A broken or
/// missing profile and a wrong argument are errors, exit 1, and `--help` is an answer, exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn plan_exits_2_only_for_changes_and_1_for_every_error() {
    let project = Project::standalone("exits", SMALL);
    let changes = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(changes.code, 2, "{}", changes.all());

    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{}\"\n{}",
            project.stack,
            SMALL.replace("max = 2", "max = 0")
        ),
    );
    let broken = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(broken.code, 1, "{}", broken.all());
    assert!(broken.stderr.contains("scaling.max"), "{}", broken.stderr);

    let missing = project.run_raw(&["plan", "--detailed-exitcode", "--profile", "missing"]);
    assert_eq!(missing.code, 1, "{}", missing.all());
    let unknown = project.run_raw(&["plan", "--detailed-exitcode", "--bogus"]);
    assert_eq!(unknown.code, 1, "{}", unknown.all());
    assert!(unknown.stderr.contains("--bogus"), "{}", unknown.stderr);
    let nothing = project.run_raw(&[]);
    assert_eq!(nothing.code, 1, "{}", nothing.all());
    for bad in [
        "--poll-interval=NaN",
        "--poll-interval=-1",
        "--poll-interval=0",
    ] {
        let refused = project.run(&["plan", bad]);
        assert_eq!(refused.code, 1, "{bad}: {}", refused.all());
        assert!(
            refused
                .stderr
                .contains("a number of seconds from 0.05 to 300"),
            "{bad}: {}",
            refused.stderr
        );
    }
    let region = project.run(&["plan", "--region", "mars-north-1"]);
    assert_eq!(region.code, 1, "{}", region.all());
    assert!(
        region
            .stderr
            .contains("`mars-north-1` is not an AWS region"),
        "{}",
        region.stderr
    );

    // A certificate that does not exist is found by plan, at its listener.
    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{}\"\n{}",
            project.stack,
            SMALL.replace(
                "protocol = \"HTTP\"\n",
                "protocol = \"HTTPS\"\ninstance_protocol = \"HTTP\"\ncertificate = \"arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000\"\n",
            )
        ),
    );
    let missing_certificate = project.run(&["plan"]);
    assert_eq!(missing_certificate.code, 1, "{}", missing_certificate.all());
    assert!(
        missing_certificate
            .stderr
            .contains("load_balancer.listeners[0].certificate: no such certificate in us-east-1"),
        "{}",
        missing_certificate.stderr
    );

    let help = project.run_raw(&["plan", "--help"]);
    assert_eq!(help.code, 0, "{}", help.all());
    for code in [
        "Exit codes:",
        "  2    plan --detailed-exitcode only",
        "  130  interrupted",
    ] {
        assert!(help.stdout.contains(code), "{code}: {}", help.stdout);
    }
    // Each command's help: an example, and only the global options that mean something to it,
    // after its own.
    assert!(
        help.stdout.contains("Examples:\n  deployer plan"),
        "{}",
        help.stdout
    );
    assert!(!help.stdout.contains("--poll-interval"), "{}", help.stdout);
    let options = help.stdout.find("--detailed-exitcode").unwrap();
    let globals = help.stdout.find("Global options:").unwrap();
    assert!(options < globals, "{}", help.stdout);
    let apply = project.run_raw(&["apply", "--help"]).ok();
    assert!(apply.stdout.contains("--poll-interval"), "{}", apply.stdout);
    let schema = project.run_raw(&["schema", "--help"]).ok();
    assert!(!schema.stdout.contains("--region"), "{}", schema.stdout);
    let top = project.run_raw(&["--help"]).ok();
    assert!(
        top.stdout.contains("DEPLOYER_AWS_ATTEMPT_TIMEOUT"),
        "{}",
        top.stdout
    );

    // Below the project's directory, profiles/ is found by walking up.
    let below = project.path().join("deep/er");
    std::fs::create_dir_all(&below).unwrap();
    let walked = project
        .command_for(&["validate", "--profile", "test"])
        .current_dir(&below)
        .output()
        .unwrap();
    assert_eq!(
        walked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&walked.stderr)
    );
}

/// What a script reads: one JSON document on stdout whatever happened; a closed stdout ends
/// quietly; a saved plan refuses a profile or region that is not its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_script_reads_one_document_and_a_saved_plan_keeps_to_its_own_stack() {
    let project = Project::standalone("script", SMALL);
    project.write(
        "profiles/other.toml",
        &format!("stack = \"{}-b\"\n{SMALL}", project.stack),
    );

    let missing = project.run_raw(&["plan", "--output", "json", "--profile", "missing"]);
    assert_eq!(missing.code, 1, "{}", missing.all());
    let document: serde_json::Value = serde_json::from_str(&missing.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", missing.stdout));
    assert_eq!(document["error"]["code"], "profile", "{document}");
    assert!(
        document["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot read profile"),
        "{document}"
    );
    assert_eq!(
        document["error"]["location"]["file"], "profiles/missing.toml",
        "{document}"
    );

    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{}\"\nregion = \"us-east1\"\n{SMALL}",
            project.stack
        ),
    );
    let region = project.run(&["validate", "--output", "json"]);
    assert_eq!(region.code, 1, "{}", region.all());
    let document: serde_json::Value = serde_json::from_str(&region.stdout).unwrap();
    assert_eq!(document["error"]["location"]["key"], "region", "{document}");
    assert_eq!(document["error"]["location"]["line"], 2, "{document}");
    assert!(
        document["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("did you mean `us-east-1`?"),
        "{document}"
    );
    project.write(
        "profiles/test.toml",
        &format!("stack = \"{}\"\n{SMALL}", project.stack),
    );

    // A closed stdout: no panic, no exit 101.
    let mut child = project
        .command_for(&["plan", "--profile", "test"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    project.run(&["plan", "--out", "a.plan"]).ok();
    for (args, expected) in [
        (
            vec!["apply", "a.plan", "--profile", "other"],
            "is a plan for profile `test`",
        ),
        (
            vec!["apply", "a.plan", "--region", "eu-west-1"],
            "is a plan for region us-east-1",
        ),
    ] {
        let refused = project.run_raw(&args);
        assert_eq!(refused.code, 1, "{}", refused.all());
        assert!(refused.stderr.contains(expected), "{}", refused.stderr);
        assert!(
            refused.stderr.contains("nothing was changed"),
            "{}",
            refused.stderr
        );
    }
    let status = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        status.code,
        2,
        "a refused saved plan changed something: {}",
        status.all()
    );
}

/// IAM is global: the same stack name in a second region is a second stack, which plans,
/// changes and deletes only its own role, never the first region's.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_stack_in_a_second_region_leaves_the_first_regions_role_alone() {
    let aws = clients().await;
    let project = Project::standalone("regions", SMALL);
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();
    let ours = format!("{stack}-node-us-east-1");

    let plan = project.run(&["plan", "--region", "eu-west-1"]).ok();
    assert!(!plan.stdout.contains(&ours), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains(&format!("+ node role {stack}-node-eu-west-1: create")),
        "{}",
        plan.stdout
    );
    let destroyed = project
        .run(&["destroy", "--yes", "--region", "eu-west-1"])
        .ok();
    assert!(!destroyed.all().contains(&ours), "{}", destroyed.all());
    aws.iam
        .get_role()
        .role_name(&ours)
        .send()
        .await
        .expect("the first region's role is still there");
    let again = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.all());

    project.run(&["destroy", "--yes"]).ok();
    assert!(aws.iam.get_role().role_name(&ours).send().await.is_err());
}

/// A closed endpoint does not mean half a minute of silence: after two seconds deployer says
/// what it is trying.
#[test]
fn a_closed_endpoint_is_named_while_the_sdk_retries() {
    use std::io::BufRead;
    let mut project = Project::standalone("closed", SMALL);
    project.endpoint = Some("http://127.0.0.1:9".into());
    let mut child = project
        .command_for(&["plan", "--profile", "test"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = sender.send(line);
        }
    });
    let begun = std::time::Instant::now();
    let mut seen = Vec::new();
    let found = loop {
        match receiver.recv_timeout(std::time::Duration::from_secs(15)) {
            Ok(line) if line.contains("waiting for AWS at http://127.0.0.1:9") => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no word of the endpoint: {seen:?}");
    assert!(begun.elapsed() < std::time::Duration::from_secs(10));
}

/// A Classic ELB takes one subnet per Availability Zone (the simulator refuses a second, as AWS
/// does): moving the balancer to another subnet of a zone it already serves detaches the old one
/// before attaching the new.
#[tokio::test(flavor = "multi_thread")]
async fn a_balancer_moves_to_another_subnet_in_the_same_zone() {
    let aws = clients().await;
    let defaults = subnets_where(&aws, "default-for-az", "true").await;
    let (first, second) = (&defaults[0], &defaults[1]);
    let zone = first.availability_zone().unwrap().to_string();
    // A second subnet in the first zone (kept between runs on one emulator).
    let cidr = "172.31.250.0/24";
    let existing = subnets_where(&aws, "cidr-block", cidr).await;
    let other = match existing.first() {
        Some(subnet) => subnet.subnet_id().unwrap().to_string(),
        None => aws
            .ec2
            .create_subnet()
            .vpc_id(first.vpc_id().unwrap())
            .cidr_block(cidr)
            .availability_zone(&zone)
            .send()
            .await
            .unwrap()
            .subnet()
            .unwrap()
            .subnet_id()
            .unwrap()
            .to_string(),
    };
    let simulator = crate::reliability::Simulator::start();
    let network = |a: &str, b: &str| format!("{SMALL}\n[network]\nsubnets = [\"{a}\", \"{b}\"]\n");
    let mut project = Project::standalone(
        "subnets",
        &network(first.subnet_id().unwrap(), second.subnet_id().unwrap()),
    );
    project.endpoint = Some(simulator.url());
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());

    project.write(
        "profiles/test.toml",
        &format!(
            "stack = \"{}\"\n{}",
            project.stack,
            network(&other, second.subnet_id().unwrap())
        ),
    );
    let moved = project.run(&["apply", "--yes"]);
    assert_eq!(moved.code, 0, "{}", moved.all());
    let balancer = aws
        .elb
        .describe_load_balancers()
        .load_balancer_names(format!("{}-lb", project.stack))
        .send()
        .await
        .unwrap();
    let mut attached = balancer.load_balancer_descriptions()[0].subnets().to_vec();
    attached.sort();
    let mut wanted = vec![other.clone(), second.subnet_id().unwrap().to_string()];
    wanted.sort();
    assert_eq!(attached, wanted);
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    project.run(&["destroy", "--yes"]).ok();
}

/// ELB cannot use a certificate ACM has not issued: plan refuses it at its listener, before any
/// change, saying what to do; once issued, plan names the domain the listener serves.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_not_issued_yet_is_refused_at_its_listener() {
    let aws = clients().await;
    let arn = crate::check::pending_certificate(&aws, "pending.deployer.example").await;
    let listeners = format!(
        "[[load_balancer.listeners]]\nport = 443\nprotocol = \"HTTPS\"\ninstance_port = 80\ncertificate = \"{arn}\"\nallow = [\"0.0.0.0/0\"]\n"
    );
    let project = Project::new("pending", &listeners);
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr
            .contains("load_balancer.listeners[0].certificate")
            && plan.stderr.contains("is PENDING_VALIDATION, not ISSUED")
            && plan.stderr.contains("validation"),
        "{}",
        plan.stderr
    );
    crate::check::issued(&aws.acm, &arn).await;
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stderr
            .contains("serves pending.deployer.example (ISSUED, expires in"),
        "{}",
        plan.stderr
    );
}

/// An arm64 instance type cannot boot an x86_64 image (RunInstances says so only at launch):
/// plan refuses it at the instance type, for the nodes and for a bake's builder.
#[test]
fn an_image_of_another_architecture_than_its_instance_type_is_refused() {
    let project = Project::new("arch", "[node]\ninstance_type = \"t4g.micro\"\n");
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr
            .contains("node.instance_type: t4g.micro runs arm64, but image ami-760aaa0f is x86_64"),
        "{}",
        plan.stderr
    );
    let baking = Project::new(
        "archbake",
        "[node.bake]\nbase_image = \"ami-760aaa0f\"\ninstance_type = \"m7g.medium\"\n",
    );
    let plan = baking.run(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains(
            "node.bake.instance_type: m7g.medium runs arm64, but image ami-760aaa0f is x86_64"
        ) && !plan.stderr.contains("node.instance_type:"),
        "{}",
        plan.stderr
    );
    // A type AWS does not know (DescribeInstanceTypes refuses the whole request) loses no other
    // type's check: both come in one plan.
    let unknown = Project::new(
        "archunknown",
        "[node]\ninstance_type = \"t4g.micro\"\n[node.bake]\nbase_image = \"ami-760aaa0f\"\ninstance_type = \"m9z.large\"\n",
    );
    let plan = unknown.run(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr
            .contains("node.instance_type: t4g.micro runs arm64, but image ami-760aaa0f is x86_64")
            && plan
                .stderr
                .contains("node.bake.instance_type: m9z.large is offered in none"),
        "{}",
        plan.stderr
    );
}

/// The shipped prod profile, with a certificate the emulator holds in place of its placeholder,
/// plans on the emulator with the current defaults (the engine majors resolved to the newest
/// versions AWS creates), and refuses the reference's old values at their lines, all at once.
#[tokio::test(flavor = "multi_thread")]
async fn the_prod_profile_plans_and_its_old_values_are_refused_at_their_lines() {
    let aws = clients().await;
    let arn = crate::check::certificate(&aws, "prod.deployer.example").await;
    let project = Project::new("prod", "");
    let shipped = std::fs::read_to_string(project.path().join("profiles/prod.toml")).unwrap();
    let placeholder =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";
    assert!(shipped.contains(placeholder));
    let prod = shipped.replace(placeholder, &arn).replace(
        "stack = \"prod\"",
        &format!("stack = \"{}\"", project.stack),
    );
    project.write("profiles/prod.toml", &prod);

    let plan = project.run_raw(&["plan", "--profile", "prod"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let newest = |major: &str, versions: &[String]| {
        versions
            .iter()
            .filter(|v| v.split('.').next() == Some(major))
            .max_by_key(|v| {
                v.split('.')
                    .map(|p| p.parse::<u32>().unwrap())
                    .collect::<Vec<_>>()
            })
            .cloned()
            .unwrap()
    };
    let postgres: Vec<String> = aws
        .rds
        .describe_db_engine_versions()
        .engine("postgres")
        .send()
        .await
        .unwrap()
        .db_engine_versions()
        .iter()
        .map(|v| v.engine_version().unwrap().to_string())
        .collect();
    assert!(
        plan.stderr.contains(&format!(
            "database.engine_version: PostgreSQL 16 is {}, the newest RDS creates in us-east-1",
            newest("16", &postgres)
        )),
        "{}",
        plan.stderr
    );

    // The quotas hold the new stack, with room: nothing said of them.
    assert!(!plan.stderr.contains("[quota."), "{}", plan.stderr);

    // The emulator, like us-east-1, lacks the nodes' type in us-east-1e: the VPC deployer
    // creates spans the first three zones that offer it, and no network check has a word to say.
    for zone in ["us-east-1a", "us-east-1b", "us-east-1c"] {
        for side in ["public", "private"] {
            let subnet = format!("+ subnet {}-{side}-{zone}", project.stack);
            assert!(plan.stdout.contains(&subnet), "{subnet}\n{}", plan.stdout);
        }
    }
    assert!(!plan.stdout.contains("us-east-1e"), "{}", plan.stdout);
    assert!(!plan.stderr.contains("[network."), "{}", plan.stderr);

    // The reference's values: a version RDS no longer creates, on a class it runs no PostgreSQL
    // it creates on.
    let old = prod
        .replace("engine_version = \"16\"", "engine_version = \"16.4\"")
        .replace(
            "instance_class = \"db.m6i.large\"",
            "instance_class = \"db.m4.large\"",
        );
    project.write("profiles/prod.toml", &old);
    let line = |key: &str| {
        1 + old
            .lines()
            .position(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key}"))
    };
    let plan = project.run_raw(&["plan", "--profile", "prod"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    for expected in [
        format!(
            "profiles/prod.toml:{}:18: database.engine_version: RDS no longer creates PostgreSQL 16.4 in us-east-1 [database.version-not-creatable]",
            line("engine_version = \"16.4\"")
        ),
        format!(
            "profiles/prod.toml:{}:18: database.instance_class: RDS runs no PostgreSQL on db.m4.large in us-east-1 [database.class-not-orderable]",
            line("instance_class"),
        ),
        "hint: use db.m6i.large, the current-generation class of the same size".into(),
        "2 problems in the profile; nothing was changed.".into(),
    ] {
        assert!(
            plan.stderr.contains(&expected),
            "{expected}\n{}",
            plan.stderr
        );
    }
    // A maximum the account's On-Demand vCPU quota (1152 in the emulator's account) cannot hold:
    // refused at the line that asks for it, with the request that would raise the quota.
    let big = prod
        .replace(
            "instance_type = \"m5.large\"",
            "instance_type = \"m5.4xlarge\"",
        )
        .replace("\nmax = 6\n", "\nmax = 80\n");
    project.write("profiles/prod.toml", &big);
    let plan = project.run_raw(&["plan", "--profile", "prod"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    let max_line = 1 + big.lines().position(|l| l == "max = 80").unwrap();
    for expected in [
        format!(
            "profiles/prod.toml:{max_line}:7: scaling.max: at their maximum the stack's instances use 1282 On-Demand standard vCPUs (80 × m5.4xlarge (16 vCPUs) at scaling.max; the bake's builder t3.medium (2 vCPUs)), and the rest of the account uses "
        ),
        "is over the account's quota of 1152 in us-east-1 (Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances) [quota.exceeded]".to_string(),
        "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-1216C47A --desired-value".to_string(),
    ] {
        assert!(
            plan.stderr.contains(&expected),
            "{expected}\n{}",
            plan.stderr
        );
    }

    let old = prod.replace(
        "node_type = \"cache.m6g.large\"",
        "node_type = \"cache.m3.medium\"",
    );
    project.write("profiles/prod.toml", &old);
    let plan = project.run_raw(&["plan", "--profile", "prod"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr.contains(&format!(
            "profiles/prod.toml:{}:13: cache.node_type: `cache.m3.medium` is a previous-generation node type",
            line("node_type")
        )),
        "{}",
        plan.stderr
    );

    // A node type ElastiCache does not offer (t4g stops at medium): refused at its line, with
    // the same size of a current family that the region's offerings list.
    let missing = prod.replace(
        "node_type = \"cache.m6g.large\"",
        "node_type = \"cache.t4g.large\"",
    );
    project.write("profiles/prod.toml", &missing);
    let plan = project.run_raw(&["plan", "--profile", "prod"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    for expected in [
        format!(
            "profiles/prod.toml:{}:13: cache.node_type: ElastiCache offers no Redis on cache.t4g.large in us-east-1 [cache.node-type-not-offered]",
            line("node_type")
        ),
        "hint: use cache.m7g.large, the current-generation node type of the same size offered here"
            .into(),
    ] {
        assert!(
            plan.stderr.contains(&expected),
            "{expected}\n{}",
            plan.stderr
        );
    }
}
