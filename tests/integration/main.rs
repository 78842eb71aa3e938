//! Integration tests: the built `deployer` binary against the LocalStack emulator, each test on
//! its own stack name so they run in parallel against one emulator.

mod acceptance;
mod alarms;
mod bake;
mod check;
mod consistency;
mod contract;
mod core;
mod examples;
mod groups;
mod harness;
mod iam;
mod lock;
mod logs;
mod network;
mod reliability;
mod safety;
mod scale;
