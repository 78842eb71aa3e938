//! `deployer unlock`: remove the stack's lock, whoever holds it.

use super::{Failure, confirm, connect};
use crate::aws::lock::{force_unlock, read};
use crate::cli::{Global, UnlockArgs};
use crate::profile::load::load;

pub async fn run(global: &Global, args: &UnlockArgs) -> Result<i32, Failure> {
    let loaded = load(&global.profile)?;
    let stack = &loaded.profile.stack;
    let aws = connect(global, &loaded).await?;
    let Some(current) = read(&aws, stack).await? else {
        println!("Stack {stack} is not locked.");
        return Ok(0);
    };
    if !args.yes {
        let state = if current.expired() { "expired" } else { "live" };
        confirm(
            &format!(
                "Stack {stack} is locked by {} ({state}). Remove the lock? If that run still works, two runs will change the stack at once.",
                current.describe()
            ),
            "yes",
            "--yes",
        )?;
    }
    match force_unlock(&aws, stack).await? {
        Some(removed) => println!("Removed the lock of stack {stack}: {}", removed.describe()),
        None => println!("Stack {stack} is not locked."),
    }
    Ok(0)
}
