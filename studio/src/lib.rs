//! The studio: a local Amazon IVS channel. It serves a live HLS stream with
//! IVS-style timed metadata, answers the IVS PutMetadata API the backend
//! calls, and writes recording thumbnails under IVS's S3 key layout, so the
//! whole system runs on a laptop with no AWS account.
//!
//! The media path: an input (the demo show, a file, or RTMP) → ffmpeg (H.264 +
//! AAC in one MPEG-TS stream on a pipe) → [`segmenter`], which cuts ~2 s
//! segments at keyframes and writes each accepted cue into them as timed ID3
//! → [`hls`] playlist → players.

// The demo show and its font live in the demo-show crate (the
// detector's evaluation draws with them too); their paths stay studio's.
pub use demo_show::{demo, font};

pub mod app;
pub mod audit_log;
pub mod aws_dashboard;
pub mod catalog_api;
pub mod catalog_store;
pub mod channel;
pub mod civil;
pub mod console_api;
pub mod encoder;
pub mod error;
pub mod guard;
pub mod hls;
pub mod id3;
pub mod ivs_api;
pub mod local_chain;
pub mod measure_api;
pub mod measure_store;
pub mod operator_api;
pub mod recorder;
pub mod rekognition_api;
pub mod segmenter;
pub mod server;
pub mod thumbnails;
pub mod ts;
