//! deployer as a library: the layers the `deployer` binary is made of, public so that the
//! integration tests can hold each AWS adapter to its contract directly.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod ids;
pub mod interrupt;
pub mod plan;
pub mod profile;
pub mod render;
pub mod resources;
pub mod stack;
