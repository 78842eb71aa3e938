//! `deployer unlock`: remove the stack's lock, whoever holds it.

use super::{Failure, confirm, connect};
use crate::aws::lock::{force_unlock, read};
use crate::cli::{Global, UnlockArgs};
use crate::profile::load::load;
use crate::render::Format;
use crate::render::report::{UnlockReport, emit};

pub async fn run(global: &Global, args: &UnlockArgs) -> Result<i32, Failure> {
    let loaded = load(global.profile())?;
    let stack = &loaded.profile.stack;
    let aws = connect(global, &loaded).await?;
    let not_locked = UnlockReport {
        stack: stack.clone(),
        removed: None,
    };
    let Some(current) = read(&aws, stack).await? else {
        emit(&not_locked, Format::Text);
        return Ok(0);
    };
    if current.holder_is_alive() && !args.force {
        return Err(Failure::stop(
            format!(
                "stack {stack} is locked by a run that is still alive on this machine: {}",
                current.describe()
            ),
            format!(
                "let it finish, or stop it (kill -INT {}): it gives its lock back; `deployer unlock --force` removes the lock anyway, and that run stops at its next renewal",
                current.pid
            ),
        ));
    }
    if !args.yes {
        let state = if current.expired() { "expired" } else { "live" };
        confirm(
            &format!(
                "Stack {stack} is locked by {} ({state}). Remove the lock? If that run still works, two runs will change the stack at once.",
                current.describe()
            ),
            "yes",
            "--yes",
        ).await?;
    }
    let report = UnlockReport {
        removed: force_unlock(&aws, stack, &current)
            .await?
            .map(|removed| removed.describe()),
        ..not_locked
    };
    emit(&report, Format::Text);
    Ok(0)
}
