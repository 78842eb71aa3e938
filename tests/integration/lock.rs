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

/// Wait until the stack's lock parameter exists.
async fn wait_for_lock(stack: &str) {
    let aws = clients().await;
    for _ in 0..200 {
        if aws
            .ssm
            .get_parameter()
            .name(format!("/deployer/{stack}/lock"))
            .send()
            .await
            .is_ok()
        {
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
