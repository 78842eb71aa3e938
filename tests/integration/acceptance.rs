//! scripts/acceptance, the real-account run, tested on the emulator: it refuses a real account
//! without its confirmation variable, and on the emulator (through the simulator, with the shipped
//! IAM policy enforced) it bakes, applies, finds the plan empty, destroys, and sweeps the stacks an
//! earlier run left.

use std::process::Command;

use crate::harness::{endpoint, root};

fn script() -> Command {
    let mut command = Command::new("bash");
    command
        .arg(root().join("scripts/acceptance"))
        .env("DEPLOYER_BIN", env!("CARGO_BIN_EXE_deployer"))
        .env_remove("DEPLOYER_ACCEPTANCE_CONFIRM");
    command
}

#[test]
fn the_acceptance_run_refuses_a_real_account_without_its_confirmation() {
    let state = tempfile::tempdir().unwrap();
    let output = script()
        .env_remove("AWS_ENDPOINT_URL")
        .env("DEPLOYER_ACCEPTANCE_STATE", state.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refusing to run") && stderr.contains("DEPLOYER_ACCEPTANCE_CONFIRM=yes"),
        "{stderr}"
    );
    // Nothing was started: not even the record of a stack.
    assert!(!state.path().join("stacks").exists());
}

#[test]
fn the_acceptance_run_does_the_whole_job_on_the_emulator_and_sweeps_earlier_stacks() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("stacks"), "acc-left-by-an-earlier-run\n").unwrap();
    let output = script()
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("DEPLOYER_ACCEPTANCE_STATE", state.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    for expected in [
        "acceptance: apply (bake, data tier, load balancer, group)",
        "acceptance: plan is empty after apply",
        "acceptance: sweeping acc-left-by-an-earlier-run, left by an earlier run",
        "acceptance: passed: emulator, stack acc-",
    ] {
        assert!(stderr.contains(expected), "{expected}:\n{stderr}");
    }
    let left = std::fs::read_to_string(state.path().join("stacks")).unwrap();
    assert!(left.trim().is_empty(), "stacks still recorded: {left}");
}
