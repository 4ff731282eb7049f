//! The wire contract between the backend, the player and the tests.
//!
//! Two things cross the boundary between the parts of the system, and both are
//! defined here once:
//!
//! * [`catalog`]: the product catalog (JSON), loaded and validated the same way
//!   by the Lambdas, the local studio and the player in the browser.
//! * [`cue`]: the compact timed-metadata text that IVS carries inside the video
//!   stream to every viewer.
//!
//! The crate is deliberately small because it is compiled into the player's
//! wasm, whose size is a feature: it reads JSON with its own strict reader
//! ([`json`]) and leaves serde_json to the writing side (backend only).

pub mod catalog;
pub mod cue;
pub mod json;
mod product_id;

pub use catalog::{Catalog, CatalogError, CatalogProblem, Product};
pub use cue::{Cue, CueError, CueItem, CUE_VERSION, MAX_CUE_BYTES};
pub use product_id::{ProductId, ProductIdError, MAX_PRODUCT_ID_LEN};
