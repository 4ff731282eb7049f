//! Measured advertising: the collector's rules, shared by its two homes (the
//! studio, over SQLite, and the collector Lambda, over DynamoDB and
//! Firehose), and the signer that lets it tell real shows from made-up ones.
//!
//! What counts (the definitions follow IAB/MRC; docs/measurement.md explains
//! them):
//! * **impression**: the player rendered the card while the video played;
//! * **viewable**: at least half the card in view, in a visible, focused tab,
//!   for one continuous second;
//! * **click**: the card's Open link, counted at the collector's redirect;
//! * **scan**: the card's QR code, counted at the same redirect;
//! * **dismiss** and the player's own **open** beacon are kept as raw events
//!   and counters, but the report's "opens" are the redirects (a click is
//!   what reached the server, as the industry counts it).
//!
//! Every event is checked before anything is counted, each on its own: a bad
//! one is refused with the reason and the others of its batch count
//! ([`Rejection`], [`Refused`]). An event names a show with the backend's
//! [`ShowTag`], so an event or a link for a show that was never on air is
//! refused without reading any state; an event id seen before is not
//! counted again (the store's job, atomically); each viewer id and each
//! client address has a bounded rate ([`RateLimiter`]); and invalid traffic
//! (known robots, a viewable without its impression) is recorded, flagged
//! and left out of every count ([`is_robot`], [`Recorded::invalid`]).
//!
//! By concern: [`signer`] (the show tags), [`rules`] (what the collector
//! takes), [`events`] (what it records and answers), [`store`] (the ports
//! its two homes implement), [`report`] (the counters and the report).

use ad_contract::measure::{
    ChannelId, EventBatch, LinkKind, MeasureError, OpaqueId, ShowId, ShowRef, ShowTag,
    TrackingLink, SHOW_TAG_LEN,
};
use ad_contract::{Catalog, Cue, ProductId};
use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;

pub use crate::calendar::UnixSeconds;

pub mod events;
pub mod report;
pub mod rules;
pub mod signer;
pub mod store;

pub use events::*;
pub use report::*;
pub use rules::*;
pub use signer::*;
pub use store::*;

#[cfg(test)]
mod tests;
