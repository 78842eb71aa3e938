//! `deployer validate`: the profile and its templates, checked without calling AWS.

use super::Failure;
use crate::cli::{Global, ValidateArgs};
use crate::profile::load::load;
use crate::render::report::{ValidateReport, emit};
use crate::stack::check;

pub fn run(global: &Global, args: &ValidateArgs) -> Result<i32, Failure> {
    let loaded = load(global.profile())?;
    let region = global
        .region
        .clone()
        .or_else(|| loaded.profile.region.clone())
        .unwrap_or_else(|| "us-east-1".into());
    let desired = check(&loaded, &region)?;
    super::warn(&desired);
    let report = ValidateReport {
        profile: loaded.name.clone(),
        file: loaded.file().display.clone(),
        valid: true,
        stack: desired.stack.clone(),
        resources: desired.resources.iter().map(|r| r.id.to_string()).collect(),
    };
    emit(&report, args.output);
    Ok(0)
}
