//! The stack lock: one changing run per stack at a time; a killed holder's lock is taken over
//! once it expires, or removed with `deployer unlock`.

use std::time::Duration;

use crate::harness::{Project, clients};

/// A stack whose apply waits: its bake's builder never powers off in the emulator.
const SLOW: &str = r#"
[node.bake]
base_image = "ami-760aaa0f"
timeout = "30s"
"#;

/// The stack's lock as its parameter holds it, if there is one.
async fn lock_record(stack: &str) -> Option<serde_json::Value> {
    let found = clients()
        .await
        .ssm
        .get_parameter()
        .name(format!("/deployer/{stack}/lock"))
        .send()
        .await
        .ok()?;
    serde_json::from_str(found.parameter()?.value()?).ok()
}

/// Wait until the stack's lock parameter exists.
async fn wait_for_lock(stack: &str) {
    for _ in 0..200 {
        if lock_record(stack).await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the lock of {stack} never appeared");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_is_refused_naming_the_holder() {
    let project = Project::new("lock", SLOW);
    // A 3 s lock: still held well past that, because its holder renews it.
    let mut first = project.spawn_with(&["apply", "--yes"], &[("DEPLOYER_LOCK_TTL", "3")]);
    wait_for_lock(&project.stack).await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let second = project.run(&["apply", "--yes"]);
    assert_eq!(second.code, 1, "{}", second.all());
    assert!(
        second
            .stderr
            .contains(&format!("stack {} is locked: `apply` by ", project.stack)),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(&format!("pid {}", first.id())),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("deployer unlock"),
        "{}",
        second.stderr
    );
    let scale = project.run(&["scale", "--max", "5"]);
    assert_eq!(scale.code, 1, "{}", scale.all());
    first.kill().unwrap();
    first.wait().unwrap();
    project.run(&["unlock", "--yes"]).ok();
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
}

/// Write a lock as another machine's run would hold it, expiring in `seconds`.
pub async fn foreign_lock(stack: &str, seconds: i64) {
    let aws = clients().await;
    let now = chrono::Utc::now();
    let record = serde_json::json!({
        "holder": "ci@build-7 pid 4242",
        "host": "build-7",
        "pid": 4242,
        "command": "apply",
        "token": "someone-elses",
        "since": now.to_rfc3339(),
        "expires": (now + chrono::Duration::seconds(seconds)).to_rfc3339(),
    });
    aws.ssm
        .put_parameter()
        .name(format!("/deployer/{stack}/lock"))
        .value(record.to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_lock_is_taken_over_when_its_holder_died_or_it_expired_or_by_unlock() {
    let project = Project::new("stale", SLOW);
    let stack = project.stack.clone();

    // A run of this machine killed while holding the lock: its process is gone, so the next
    // run takes over at once.
    let mut first = project.spawn(&["apply", "--yes"]);
    wait_for_lock(&stack).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let taken = project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
    assert!(
        taken.stderr.contains(&format!(
            "warning: took over the lock of a run that no longer runs of stack {stack}: `apply` by"
        )),
        "{}",
        taken.stderr
    );

    // Another machine's run holds it: refused until it expires, then taken over.
    foreign_lock(&stack, 2).await;
    let refused = project.run(&["scale", "--max", "5"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains(&format!(
            "stack {stack} is locked: `apply` by ci@build-7 pid 4242"
        )),
        "{}",
        refused.stderr
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let taken = project.run(&["destroy", "--yes"]).ok();
    assert!(
        taken.stderr.contains(&format!(
            "warning: took over the expired lock of stack {stack}: `apply` by ci@build-7 pid 4242"
        )),
        "{}",
        taken.stderr
    );

    // A live lock of another machine goes only with `deployer unlock`.
    foreign_lock(&stack, 600).await;
    assert_eq!(project.run(&["destroy", "--yes"]).code, 1);
    let removed = project.run(&["unlock", "--yes"]).ok();
    assert!(
        removed.stdout.contains(&format!(
            "Removed the lock of stack {stack}: `apply` by ci@build-7 pid 4242"
        )),
        "{}",
        removed.stdout
    );
    project.run(&["destroy", "--yes"]).ok();
    let again = project.run(&["unlock", "--yes"]).ok();
    assert!(again.stdout.contains("is not locked"), "{}", again.stdout);
}

/// Start `deployer apply --yes` on `project` with its stderr captured.
fn spawn_apply(project: &Project, env: &[(&str, &str)]) -> std::process::Child {
    project
        .command_for(&["apply", "--yes", "--profile", "test"])
        .envs(env.iter().copied())
        // As in CI jobs and containers: no $USER.
        .env_remove("USER")
        .env_remove("USERNAME")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the deployer binary starts")
}

/// Wait (up to `seconds`) for `child` to end; its exit code, the time it took and its stderr.
fn ended(child: std::process::Child, seconds: u64) -> (i32, Duration, String) {
    let begun = std::time::Instant::now();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let output = receiver
        .recv_timeout(Duration::from_secs(seconds))
        .expect("the run ended in time")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        begun.elapsed(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `unlock` leaves a live run's lock alone unless forced; the run whose lock was removed stops
/// at its next renewal; SIGTERM abandons the wait at once, exits 143 and gives the lock back.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_holder_keeps_its_lock_and_every_way_out_gives_it_back() {
    let project = Project::new("holder", &SLOW.replace("30s", "120s"));
    let stack = project.stack.clone();
    let first = spawn_apply(&project, &[("DEPLOYER_LOCK_TTL", "3")]);
    wait_for_lock(&stack).await;
    let record = lock_record(&stack).await.expect("the lock is held");
    let user = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let user = String::from_utf8(user.stdout).unwrap();
    assert!(
        record["holder"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}@", user.trim())),
        "the holder does not name the user: {record}"
    );

    let refused = project.run(&["unlock", "--yes"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused
            .stderr
            .contains("is locked by a run that is still alive on this machine"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert!(
        lock_record(&stack).await.is_some(),
        "a refused unlock removed the lock"
    );

    project.run(&["unlock", "--yes", "--force"]).ok();
    // Its next renewal (every second with a 3 s lock) finds the lock gone: it stops, without
    // waiting out the 120 s bake.
    let (code, took, stderr) = ended(first, 30);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("was removed (deployer unlock?) while this run held it"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}: {stderr}");

    let second = spawn_apply(&project, &[]);
    wait_for_lock(&stack).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = second.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (code, took, stderr) = ended(second, 30);
    assert_eq!(code, 143, "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {stderr}");
    assert!(stderr.contains("terminated (SIGTERM)"), "{stderr}");
    assert!(
        stderr.contains("run `deployer apply` again to resume"),
        "{stderr}"
    );
    assert!(lock_record(&stack).await.is_none(), "SIGTERM left the lock");

    // Ctrl-C twice in a row quits at once, and still gives the lock back.
    let third = spawn_apply(&project, &[]);
    wait_for_lock(&stack).await;
    let pid = third.id().to_string();
    for _ in 0..2 {
        assert!(
            std::process::Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        // Two signals sent back to back can arrive as one (a pending SIGINT is one bit; seen
        // once in a full run), and a run whose steps are only waits ends soon after the first:
        // the second goes a little after the first.
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, _, stderr) = ended(third, 30);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("giving the lock back"), "{stderr}");
    assert!(
        lock_record(&stack).await.is_none(),
        "a double Ctrl-C left the lock"
    );

    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
}
