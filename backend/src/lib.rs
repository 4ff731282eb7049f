//! The detection pipeline's core library: the pure decision logic, the edge
//! traits and their AWS adapters, and the Lambda handlers as plain async
//! functions. The binaries in `src/bin` are thin `main`s over this.

pub mod aws;
pub mod builtin;
pub mod config;
pub mod decision;
pub mod handlers;
pub mod local;
pub mod operator;
pub mod ports;
pub mod runtime;
pub mod thumbnail_key;

/// The generic workflow's Amazon States Language definition, with
/// `${TickFunctionArn}` to substitute (the CDK app loads the same file).
pub const WORKFLOW_DEFINITION: &str = include_str!("../workflow/republish.asl.json");
