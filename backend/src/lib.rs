//! The detection pipeline's core library: the pure decision logic, the edge
//! traits and their AWS adapters, and the Lambda handlers as plain async
//! functions. The binaries in `src/bin` are thin `main`s over this.

pub mod decision;
pub mod ports;
pub mod thumbnail_key;
