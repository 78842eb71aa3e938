//! Baking: the emulator runs no user data, so these tests play the node: they stop a builder as
//! its bake template's power-off would (or do not, for the timeout).

use std::time::Duration;

use serde_json::Value;

use crate::check::{group, images, tag, tagged_leftovers};
use crate::harness::{Clients, Project, clients};

const BAKE: &str = r#"
[node.bake]
base_image = "ami-760aaa0f"
timeout = "60s"
"#;

/// Every builder instance the stack ever had: (instance id, state).
async fn builders(aws: &Clients, stack: &str) -> Vec<(String, String)> {
    let found = aws
        .ec2
        .describe_instances()
        .filters(tag("deployer:stack", stack))
        .filters(tag("deployer:component", "builder"))
        .send()
        .await
        .unwrap();
    found
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().unwrap().to_string(),
                i.state().unwrap().name().unwrap().as_str().to_string(),
            )
        })
        .collect()
}

async fn snapshot_exists(aws: &Clients, snapshot: &str) -> bool {
    aws.ec2
        .describe_snapshots()
        .snapshot_ids(snapshot)
        .send()
        .await
        .is_ok_and(|s| !s.snapshots().is_empty())
}

/// Write `lines` on the console of `instance`, as the node would print them (the emulator shows
/// the instance's `emulator:console` tag after its boot log: see emulator/NOTES.md).
pub async fn print_on_console(aws: &Clients, instance: &str, lines: &[&str]) {
    aws.ec2
        .create_tags()
        .resources(instance)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("emulator:console")
                .value(lines.join(" | "))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Play the node: every running builder of `stack`, as soon as it appears, prints what a bake
/// template that succeeds prints last and powers off.
pub fn play_node(aws: &Clients, stack: &str) -> tokio::task::JoinHandle<()> {
    let aws = aws.clone();
    let stack = stack.to_string();
    tokio::spawn(async move {
        loop {
            for (instance, state) in builders(&aws, &stack).await {
                if state == "running" || state == "pending" {
                    print_on_console(
                        &aws,
                        &instance,
                        &["+ echo 'deployer-bake: done'", "deployer-bake: done"],
                    )
                    .await;
                    let _ = aws.ec2.stop_instances().instance_ids(instance).send().await;
                }
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    })
}

/// The image id the newest launch template version uses.
async fn template_image(aws: &Clients, stack: &str) -> (i64, String) {
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_name(format!("{stack}-node"))
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let latest = &versions.launch_template_versions()[0];
    (
        latest.version_number().unwrap(),
        latest
            .launch_template_data()
            .unwrap()
            .image_id()
            .unwrap()
            .to_string(),
    )
}

fn edit_bake_template(project: &Project, line: &str) {
    let path = project.path().join("templates/bake.sh.j2");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace("sync\npoweroff", &format!("{line}\nsync\npoweroff"));
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bake_makes_one_image_and_the_same_inputs_never_bake_again() {
    let aws = clients().await;
    let project = Project::new("bake", BAKE);
    let stack = project.stack.clone();
    let player = play_node(&aws, &stack);

    let plan = project.run(&["plan"]).ok();
    assert!(
        plan.stdout.contains("bake: new image (first bake)"),
        "{}",
        plan.stdout
    );
    let applied = project.run(&["apply", "--yes"]).ok();
    assert!(applied.stdout.contains("image "), "{}", applied.stdout);

    let baked = images(&aws, &stack).await;
    assert_eq!(baked.len(), 1, "{baked:?}");
    let (name, (image, state, tags, snapshots)) = baked.iter().next().unwrap();
    assert_eq!(state, "available");
    let hash = &tags["deployer:bake-hash"];
    assert_eq!(hash.len(), 64);
    assert_eq!(name, &format!("{stack}-node-{}", &hash[..12]));
    assert_eq!(tags["deployer:stack"], stack);
    assert_eq!(tags["deployer:component"], "image");
    assert_eq!(tags["deployer:base-image"], "ami-760aaa0f");
    assert!(tags["deployer:bake-template"].starts_with("templates/bake.sh.j2@"));
    assert!(!snapshots.is_empty());
    let tagged_snapshots = aws
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(tag("deployer:stack", &stack))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tagged_snapshots.snapshots().len(),
        snapshots.len(),
        "the snapshots carry the tags"
    );

    // One builder, and it is gone, with its security group.
    let ever = builders(&aws, &stack).await;
    assert_eq!(ever.len(), 1, "{ever:?}");
    assert_eq!(ever[0].1, "terminated");
    let groups = crate::check::security_groups(&aws, &stack).await;
    assert!(
        !groups
            .keys()
            .any(|name| name.starts_with(&format!("{stack}-builder"))),
        "{groups:?}"
    );
    // The launch template runs the baked image.
    assert_eq!(template_image(&aws, &stack).await, (1, image.clone()));

    // The same inputs: nothing to do, no builder.
    let again = project.run(&["apply", "--yes"]).ok();
    assert!(
        again.stdout.contains("bake: up to date"),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
    assert_eq!(builders(&aws, &stack).await.len(), 1);

    // A changed template: a new image and a new launch template version the group uses.
    edit_bake_template(&project, "echo tuned");
    let plan = project.run(&["plan", "--output", "json"]).ok();
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let bake = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "image" && s["action"] == "create")
        .unwrap();
    assert_eq!(
        bake["note"],
        "bake: new image (inputs changed: bake template)"
    );
    project.run(&["apply", "--yes"]).ok();
    let baked = images(&aws, &stack).await;
    assert_eq!(baked.len(), 2, "{baked:?}");
    let (version, new_image) = template_image(&aws, &stack).await;
    assert_eq!(version, 2);
    assert_ne!(&new_image, image);
    assert!(baked.values().any(|(id, ..)| id == &new_image));
    assert_eq!(
        group(&aws, &stack)
            .await
            .launch_template()
            .unwrap()
            .version(),
        Some("2")
    );
    assert_eq!(builders(&aws, &stack).await.len(), 2);

    // Destroy with --keep-images keeps the images; a second destroy removes them.
    let kept = project
        .run(&["destroy", "--yes", "--keep-images", "--skip-final-snapshot"])
        .ok();
    assert!(
        kept.stdout.contains("Kept (--keep-images): image"),
        "{}",
        kept.stdout
    );
    assert_eq!(images(&aws, &stack).await.len(), 2);
    project.run(&["destroy", "--yes"]).ok();
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
    player.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deregisters_old_images_and_their_snapshots_but_never_one_in_use() {
    let aws = clients().await;
    let project = Project::new("keep", &format!("{BAKE}keep_images = 1\n"));
    let stack = project.stack.clone();
    let player = play_node(&aws, &stack);
    project.run(&["apply", "--yes"]).ok();
    let first = images(&aws, &stack).await;
    let (first_name, (first_image, ..)) = first.iter().next().unwrap();

    // `deployer bake` bakes without touching the launch template, which still uses the first
    // image (and the group's instances run it): that one is kept whatever keep_images says.
    edit_bake_template(&project, "echo two");
    project.run(&["bake", "--yes"]).ok();
    // Baked: a second bake says so about the images alone (plan would show the launch
    // template's update), and its JSON names the image.
    let again = project.run(&["bake", "--yes"]).ok();
    assert!(
        again
            .stdout
            .contains("No bake needed: the images match the profile"),
        "{}",
        again.stdout
    );
    assert!(
        !again.stdout.contains("the stack matches"),
        "{}",
        again.stdout
    );
    let json = project.run(&["bake", "--yes", "--output", "json"]).ok();
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["images"].as_array().map(Vec::len), Some(1), "{json}");
    let second = images(&aws, &stack).await;
    assert_eq!(second.len(), 2, "{second:?}");
    let (second_name, (_, _, _, second_snapshots)) = second
        .iter()
        .find(|(name, _)| *name != first_name)
        .map(|(n, v)| (n.clone(), v.clone()))
        .unwrap();

    edit_bake_template(&project, "echo three");
    let plan = project.run(&["bake", "--yes"]).ok();
    assert!(
        plan.stdout
            .contains(&format!("- image {second_name}: delete")),
        "{}",
        plan.stdout
    );
    let third = images(&aws, &stack).await;
    assert_eq!(third.len(), 2, "{third:?}");
    assert!(
        third.contains_key(first_name),
        "the image in use was deregistered"
    );
    assert!(!third.contains_key(&second_name));
    for snapshot in &second_snapshots {
        assert!(
            !snapshot_exists(&aws, snapshot).await,
            "snapshot {snapshot} was left"
        );
    }
    assert_eq!(template_image(&aws, &stack).await.1, *first_image);

    project.run(&["destroy", "--yes"]).ok();
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
    player.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bake_killed_while_waiting_is_adopted_by_the_next_run() {
    let aws = clients().await;
    let project = Project::new("crash", BAKE);
    let stack = project.stack.clone();
    let mut child = project.spawn(&["bake", "--yes"]);
    // Wait for the builder, then kill deployer as a crash would.
    let mut waited = 0;
    while builders(&aws, &stack).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
        assert!(waited < 300, "no builder appeared");
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let player = play_node(&aws, &stack);
    let run = project.run(&["bake", "--yes"]).ok();
    assert!(run.stderr.contains("adopting builder"), "{}", run.all());
    let ever = builders(&aws, &stack).await;
    assert_eq!(ever.len(), 1, "a second builder was launched: {ever:?}");
    assert_eq!(images(&aws, &stack).await.len(), 1);
    player.abort();

    project.run(&["destroy", "--yes"]).ok();
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_builder_that_never_powers_off_times_out_with_its_console_and_is_terminated() {
    let aws = clients().await;
    let project = Project::new("timeout", &BAKE.replace("60s", "2s"));
    let stack = project.stack.clone();
    let run = project.run(&["bake", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("did not power off within the bake timeout (2.0s)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("The last lines of its console:"),
        "{}",
        run.stderr
    );
    // The emulator's console output (a boot log) is shown.
    assert!(run.stderr.contains("Linux version"), "{}", run.stderr);
    let ever = builders(&aws, &stack).await;
    assert_eq!(ever.len(), 1);
    assert_eq!(ever[0].1, "terminated");
    assert!(images(&aws, &stack).await.is_empty());
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
}

/// Play a node whose template fails: every running builder of `stack` prints `lines` (the last
/// the template's failure marker), and, if `power_off`, powers off as the template's trap does.
fn play_failing_node(
    aws: &Clients,
    stack: &str,
    lines: &'static [&'static str],
    power_off: bool,
) -> tokio::task::JoinHandle<()> {
    let aws = aws.clone();
    let stack = stack.to_string();
    tokio::spawn(async move {
        let mut printed = std::collections::BTreeSet::new();
        loop {
            for (instance, state) in builders(&aws, &stack).await {
                if (state == "running" || state == "pending") && printed.insert(instance.clone()) {
                    print_on_console(&aws, &instance, lines).await;
                    if power_off {
                        let _ = aws.ec2.stop_instances().instance_ids(instance).send().await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    })
}

const FAILING: &[&str] = &[
    "+ dnf -y install nginx-but-misspelled",
    "Error: Unable to find a match: nginx-but-misspelled",
    "deployer-bake: failed: exit 1 at line 31",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_bake_whose_template_fails_is_reported_at_once_with_its_console() {
    let aws = clients().await;
    // A timeout of 10 minutes: the failure must not wait for it.
    let project = Project::new("bakefail", &BAKE.replace("60s", "10m"));
    let stack = project.stack.clone();
    // The template fails while the builder runs: its console says so before it powers off.
    let node = play_failing_node(&aws, &stack, FAILING, false);
    let begun = std::time::Instant::now();
    let run = project.run(&["bake", "--yes"]);
    let took = begun.elapsed();
    node.abort();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        took < Duration::from_secs(60),
        "the failure was noticed after {took:?}"
    );
    assert!(
        run.stderr
            .contains("the bake template failed (deployer-bake: failed: exit 1 at line 31)")
            && run
                .stderr
                .contains("Error: Unable to find a match: nginx-but-misspelled"),
        "{}",
        run.stderr
    );
    // The console was shown as it came (plain lines when stderr is not a terminal).
    assert!(
        run.stderr.contains("│ Error: Unable to find a match"),
        "{}",
        run.stderr
    );
    let ever = builders(&aws, &stack).await;
    assert_eq!(ever.len(), 1);
    assert_eq!(ever[0].1, "terminated");
    assert!(images(&aws, &stack).await.is_empty());
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_builder_that_powers_off_without_the_success_marker_is_not_imaged() {
    let aws = clients().await;
    let project = Project::new("nomarker", &BAKE.replace("60s", "3s"));
    let stack = project.stack.clone();
    // It powers off, but its template never printed the marker (a template that ends early).
    let node = play_failing_node(&aws, &stack, &["+ exit 0"], true);
    let run = project.run(&["bake", "--yes"]);
    node.abort();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("powered off without printing `deployer-bake: done`"),
        "{}",
        run.stderr
    );
    assert!(images(&aws, &stack).await.is_empty());
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_builder_leaves_a_failed_builder_stopped_until_the_next_bake_replaces_it() {
    let aws = clients().await;
    let project = Project::new("keepbuilder", BAKE);
    let stack = project.stack.clone();
    let node = play_failing_node(&aws, &stack, FAILING, true);
    let run = project.run(&["bake", "--yes", "--keep-builder"]);
    node.abort();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("is kept, stopped, with its disk and security group"),
        "{}",
        run.stderr
    );
    let kept = builders(&aws, &stack).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].1 == "stopped" || kept[0].1 == "stopping",
        "{kept:?}"
    );
    let plan = project.run(&["plan"]).ok();
    assert!(
        plan.stdout
            .contains("a failed bake's builder, kept for inspection since"),
        "{}",
        plan.stdout
    );
    // The next bake replaces it, and succeeds.
    let player = play_node(&aws, &stack);
    let again = project.run(&["bake", "--yes"]).ok();
    player.abort();
    assert!(again.stdout.contains("image "), "{}", again.all());
    let ever = builders(&aws, &stack).await;
    assert!(
        ever.iter().all(|(_, state)| state == "terminated"),
        "{ever:?}"
    );
    assert_eq!(images(&aws, &stack).await.len(), 1);
    project.run(&["destroy", "--yes"]).ok();
    assert_eq!(tagged_leftovers(&aws, &stack).await, Vec::<String>::new());
}

/// A stack destroyed and applied again bakes anew. Through the simulator, which answers a
/// repeated RunInstances client token with the first launch's instance, as AWS does for a day or
/// more: a token made from the bake's inputs alone got the old, terminated builder back.
#[tokio::test(flavor = "multi_thread")]
async fn a_stack_destroyed_and_applied_again_bakes_anew() {
    let aws = clients().await;
    let simulator = crate::reliability::Simulator::start();
    simulator.configure(serde_json::json!({"builder_power_off": 0.2}));
    let mut project = Project::new("rebake", BAKE);
    project.endpoint = Some(simulator.url());
    let stack = project.stack.clone();
    project.run(&["apply", "--yes"]).ok();
    let first = images(&aws, &stack).await;
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
    let again = project.run(&["apply", "--yes"]).ok();
    assert!(again.stdout.contains("image "), "{}", again.stdout);
    let second = images(&aws, &stack).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(
        first.values().next().unwrap().0,
        second.values().next().unwrap().0,
        "a new image"
    );
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
}

/// A base image from AWS's public SSM parameter moves with each Amazon Linux release; once the
/// stack has an image, a newer release is noted and not baked (no rebake, no roll by surprise)
/// until `--refresh-base-image`.
#[tokio::test(flavor = "multi_thread")]
async fn a_newer_base_image_is_noted_and_baked_only_when_asked() {
    let aws = clients().await;
    let project = applied_from_pinned_image(&aws, "pin").await;
    let parameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64";
    let newer = parameter_value(&aws, parameter).await;
    assert_ne!(newer, "ami-760aaa0f");
    project.write_profile(&BAKE.replace(
        "base_image = \"ami-760aaa0f\"",
        &format!("base_image = {{ ssm = \"{parameter}\" }}"),
    ));
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stderr.contains(&format!(
            "node.bake.base_image: a newer base image is out ({newer}); the nodes stay on ami-760aaa0f"
        )),
        "{}",
        plan.stderr
    );

    let plan = project.run(&["plan", "--detailed-exitcode", "--refresh-base-image"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stdout
            .contains(&format!("base image ami-760aaa0f -> {newer}")),
        "{}",
        plan.stdout
    );
    assert!(
        !plan.stderr.contains("a newer base image"),
        "{}",
        plan.stderr
    );
    project.run(&["destroy", "--yes"]).ok();
}

/// A profile moved to another line of base images (x86_64 to arm64, with a Graviton builder)
/// does not stay on the base image its nodes were baked from: that one is described first, and
/// one the builder's type does not run is not kept. The next bake uses the new line.
#[tokio::test(flavor = "multi_thread")]
async fn a_base_image_the_builder_cannot_run_is_not_stayed_on() {
    let aws = clients().await;
    let project = applied_from_pinned_image(&aws, "pinarch").await;
    let parameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64";
    let arm = parameter_value(&aws, parameter).await;
    project.write_profile(&format!(
        "[node]\ninstance_type = \"t4g.micro\"\n{}",
        BAKE.replace(
            "base_image = \"ami-760aaa0f\"",
            &format!("base_image = {{ ssm = \"{parameter}\" }}\ninstance_type = \"t4g.small\""),
        )
    ));
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stderr.contains(&format!(
            "node.bake.base_image: the base image the nodes' image was baked from (ami-760aaa0f) is x86_64, which t4g.small does not run; the next bake uses {arm}"
        )) && !plan.stderr.contains("a newer base image"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stdout
            .contains(&format!("base image ami-760aaa0f -> {arm}")),
        "{}",
        plan.stdout
    );
    project.run(&["destroy", "--yes"]).ok();
}

/// A stack of `BAKE` (baked from the pinned ami-760aaa0f) applied, its builder played.
async fn applied_from_pinned_image(aws: &Clients, name: &str) -> Project {
    let project = Project::new(name, BAKE);
    let player = play_node(aws, &project.stack);
    project.run(&["apply", "--yes"]).ok();
    player.abort();
    project
}

/// The image id an SSM parameter names.
async fn parameter_value(aws: &Clients, name: &str) -> String {
    aws.ssm
        .get_parameter()
        .name(name)
        .send()
        .await
        .unwrap()
        .parameter()
        .unwrap()
        .value()
        .unwrap()
        .to_string()
}
