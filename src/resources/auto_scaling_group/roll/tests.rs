//! The roll against an in-memory group: instances launch when the group is asked for more,
//! become healthy (or never do), and go when retired.

use std::sync::Mutex;

use super::*;

/// A group in memory: its instances, capacity, version and recorded roll.
struct Memory {
    state: Mutex<State>,
    /// Whether instances launched on the new version pass their health checks.
    healthy_new: bool,
}

struct State {
    members: Vec<Member>,
    desired: i32,
    max: i32,
    version: i64,
    roll: Option<RollState>,
    launched: usize,
    retired: Vec<String>,
    /// The processes suspended now, and every suspend/resume in order.
    suspended: Vec<String>,
    process_calls: Vec<String>,
}

impl Memory {
    fn new(instances: usize, version: i64, max: i32, healthy_new: bool) -> Self {
        let state = State {
            members: (0..instances)
                .map(|i| member(&format!("i-old{i}"), version))
                .collect(),
            desired: instances as i32,
            max,
            version,
            roll: None,
            launched: 0,
            retired: vec![],
            suspended: vec![],
            process_calls: vec![],
        };
        Memory {
            state: Mutex::new(state),
            healthy_new,
        }
    }

    /// The group launches instances up to its desired capacity, on its version.
    fn converge(state: &mut State) {
        while (state.members.len() as i32) < state.desired {
            state.launched += 1;
            let id = format!("i-new{}", state.launched);
            let version = state.version;
            state.members.push(member(&id, version));
        }
    }
}

fn member(id: &str, version: i64) -> Member {
    Member {
        instance_id: id.into(),
        zone: "us-east-1a".into(),
        lifecycle: "InService".into(),
        health: "Healthy".into(),
        launch_template_version: Some(version.to_string()),
    }
}

impl Fleet for Memory {
    fn describe(&self) -> BoxFuture<'_, Result<Option<Group>, AwsError>> {
        Box::pin(async move {
            let mut state = self.state.lock().unwrap();
            Memory::converge(&mut state);
            Ok(Some(Group {
                desired: state.roll.as_ref().map_or(state.desired, |r| r.desired),
                max: state.roll.as_ref().map_or(state.max, |r| r.max),
                rolling: state.roll.is_some(),
                members: state.members.clone(),
            }))
        })
    }

    fn resize(
        &self,
        max: Option<i32>,
        desired: Option<i32>,
    ) -> BoxFuture<'_, Result<(), AwsError>> {
        Box::pin(async move {
            let mut state = self.state.lock().unwrap();
            if let Some(max) = max {
                state.max = max;
            }
            if let Some(desired) = desired {
                state.desired = desired;
            }
            Ok(())
        })
    }

    fn health<'a>(
        &'a self,
        members: &'a [Member],
        instances: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<InstanceHealth>, AwsError>> {
        Box::pin(async move {
            Ok(members
                .iter()
                .filter(|m| instances.contains(&m.instance_id))
                .map(|m| {
                    let new = m.instance_id.starts_with("i-new");
                    let healthy = !new || self.healthy_new;
                    InstanceHealth {
                        instance_id: m.instance_id.clone(),
                        state: if healthy { "InService" } else { "OutOfService" }.into(),
                        reason: (!healthy).then(|| "Instance has failed at least the UnhealthyThreshold number of health checks consecutively.".into()),
                    }
                })
                .collect())
        })
    }

    fn retire<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let mut state = self.state.lock().unwrap();
            state.members.retain(|m| m.instance_id != instance);
            state.desired -= 1;
            state.retired.push(instance.to_string());
            Ok(())
        })
    }

    fn point_at(&self, version: i64) -> BoxFuture<'_, Result<(), AwsError>> {
        Box::pin(async move {
            self.state.lock().unwrap().version = version;
            Ok(())
        })
    }

    fn record<'a>(&'a self, roll: Option<&'a RollState>) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.state.lock().unwrap().roll = roll.cloned();
            Ok(())
        })
    }

    fn processes<'a>(
        &'a self,
        processes: &'a [&'a str],
        suspend: bool,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let mut state = self.state.lock().unwrap();
            let rolling = state.roll.is_some();
            state.process_calls.push(format!(
                "{} (roll recorded: {rolling})",
                if suspend { "suspend" } else { "resume" }
            ));
            if suspend {
                state.suspended = processes.iter().map(|p| p.to_string()).collect();
            } else {
                state.suspended.retain(|p| !processes.contains(&p.as_str()));
            }
            Ok(())
        })
    }
}

fn plan<'a>(id: &'a ResourceId, progress: &'a Progress, batch: &'a RollBatch) -> Roll<'a> {
    Roll {
        id,
        batch,
        timeout: Duration::from_millis(200),
        progress,
        poll_interval: Duration::from_millis(2),
    }
}

#[tokio::test]
async fn every_instance_is_replaced_batch_by_batch_without_losing_capacity() {
    let fleet = Memory::new(3, 1, 3, true);
    fleet.state.lock().unwrap().version = 2;
    let id = ResourceId::new(super::super::KIND, "shop-nodes");
    let progress = Progress::quiet();
    let batch = RollBatch::try_from("1".to_string()).unwrap();
    roll(&fleet, &plan(&id, &progress, &batch), 2)
        .await
        .unwrap();
    let state = fleet.state.lock().unwrap();
    assert_eq!(state.members.len(), 3);
    assert!(
        state
            .members
            .iter()
            .all(|m| m.launch_template_version.as_deref() == Some("2")),
        "{:?}",
        state.members
    );
    assert_eq!(state.retired, ["i-old0", "i-old1", "i-old2"]);
    // The surge raised max; the roll put it back and forgot itself.
    assert_eq!((state.desired, state.max), (3, 3));
    assert_eq!(state.roll, None);
    // Zone rebalancing, alarm replacements and schedules were held off while it replaced
    // instances, and are back.
    assert_eq!(
        state.process_calls,
        [
            "suspend (roll recorded: true)",
            "resume (roll recorded: false)"
        ]
    );
    assert!(state.suspended.is_empty(), "{:?}", state.suspended);
}

#[tokio::test]
async fn a_batch_that_never_becomes_healthy_is_rolled_back() {
    let fleet = Memory::new(2, 1, 2, false);
    fleet.state.lock().unwrap().version = 2;
    let id = ResourceId::new(super::super::KIND, "shop-nodes");
    let progress = Progress::quiet();
    let batch = RollBatch::try_from("50%".to_string()).unwrap();
    let error = roll(&fleet, &plan(&id, &progress, &batch), 2)
        .await
        .unwrap_err();
    assert!(
        error
            .message
            .contains("did not pass the load balancer's health check"),
        "{error}"
    );
    assert!(error.message.contains("Rolled back"), "{error}");
    assert!(error.message.contains("UnhealthyThreshold"), "{error}");
    let state = fleet.state.lock().unwrap();
    assert_eq!(state.version, 1, "back on the old version");
    assert_eq!(
        (state.desired, state.max),
        (2, 2),
        "back to the old capacity"
    );
    assert_eq!(state.roll, None);
    let ids: Vec<&str> = state
        .members
        .iter()
        .map(|m| m.instance_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["i-old0", "i-old1"],
        "the new instances are gone, the old ones kept"
    );
    assert_eq!(state.retired, ["i-new1"]);
    assert!(
        state.suspended.is_empty(),
        "a rollback resumes the processes: {:?}",
        state.process_calls
    );
    assert_eq!(
        state.process_calls.first().map(String::as_str),
        Some("suspend (roll recorded: true)")
    );
}
