//! The built-in detector's evaluation, apart from the AWS harness: the
//! generated scene set ([`scenes`], with the ways a brand shows up in the
//! world in [`looks`]), the real-photo development set ([`real_photos`]),
//! and the process's peak memory ([`memory`]). `eval-detector` prints the
//! figures (docs/detector.md); `detector-eval/tests/detector_eval.rs` holds the detector
//! to its recall and precision on a slice of the scenes.

pub mod looks;
pub mod memory;
pub mod real_photos;
pub mod scenes;
