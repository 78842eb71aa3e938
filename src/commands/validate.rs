//! `deployer validate`: the profile and its templates, checked without calling AWS.

use super::Failure;
use crate::cli::{Global, ValidateArgs};
use crate::profile::load::load;
use crate::render::Format;
use crate::stack::check;

pub fn run(global: &Global, args: &ValidateArgs) -> Result<i32, Failure> {
    let loaded = load(&global.profile)?;
    let region = global
        .region
        .clone()
        .or_else(|| loaded.profile.region.clone())
        .unwrap_or_else(|| "us-east-1".into());
    let desired = check(&loaded, &region)?;
    super::warn(&desired);
    match args.output {
        Format::Text => println!(
            "{}: valid (stack {}, {} resources)",
            loaded.file().display,
            desired.stack,
            desired.resources.len()
        ),
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "profile": loaded.name,
                "file": loaded.file().display,
                "valid": true,
                "stack": desired.stack,
                "resources": desired.resources.iter().map(|r| r.id.to_string()).collect::<Vec<_>>(),
            })
        ),
    }
    Ok(0)
}
