#![warn(missing_docs)]
//! The wire contract between the backend, the player and the tests.
//!
//! Three things cross the boundary between the parts of the system, and each
//! is defined here once:
//!
//! * [`catalog`]: the product catalog (JSON), loaded and validated the same way
//!   by the Lambdas, the local studio and the player in the browser.
//! * [`cue`]: the compact timed-metadata text that IVS carries inside the video
//!   stream to every viewer.
//! * [`measure`]: the events players report about the cards they show, and
//!   the tracking links behind the QR code and the Open button.
//!
//! The crate is deliberately small because it is compiled into the player's
//! wasm, whose size is a feature: it reads JSON with its own strict reader
//! ([`json`]) and leaves serde_json to the writing side (backend only). All
//! three are read the same way: [`object::ObjectReader`] asks for each field
//! by name, names every problem by its field's path, and reports the keys
//! nobody asked for; the catalog collects every problem, the cue and an
//! event batch stop at the first.

pub mod catalog;
pub mod cue;
pub mod json;
pub mod measure;
pub mod object;
mod product_id;
pub mod timeline;

pub use catalog::{Catalog, CatalogError, CatalogProblem, Product, MAX_DISPLAY_SECONDS};
pub use cue::{Cue, CueError, CueItem, CUE_VERSION, MAX_CARDS_AT_ONCE, MAX_CUE_BYTES};
pub use measure::{ChannelId, ShowId, ShowKey, ShowRef, ShowTag};
pub use product_id::{ProductId, ProductIdError, MAX_PRODUCT_ID_LEN};
