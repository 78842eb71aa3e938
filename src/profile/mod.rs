//! Profiles: the TOML format, `extends` merging, and validation with file/line/key locations.

pub mod alarms;
pub mod error;
pub mod load;
mod load_balancer;
pub mod scaling;
pub mod schema;
pub mod suggest;
pub mod validate;
pub mod values;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod bake_tests;
