//! The built-in detector: finds the catalog's logos in a frame from a few
//! reference images per label, and optionally the words they spell, on the
//! CPU, with nothing downloaded at run time.
//!
//! Method (chosen by measurement on the evaluation set, see docs/detector.md):
//! 1. ORB keypoints over image pyramids of the frame and of each reference
//!    ([`orb`]), polarity-free by construction (a logo and its negative give
//!    the same features); reference levels sit inside a margin so that a
//!    logo 40-100 px wide in the frame still meets keypoints;
//! 2. matches that pass Lowe's ratio test against the next-best match *at a
//!    different place* in the reference (a pyramid sees each corner at
//!    several scales; those are not rivals);
//! 3. pose voting, then a RANSAC homography inside each pose group, with
//!    plausibility checks on the outline ([`geometry`]);
//! 4. the frame warped back onto the reference and compared cell by cell
//!    ([`verify`]), with one polarity for the whole logo, which sets the
//!    confidence and rejects look-alikes;
//! 5. for labels still unfound, logos 36-120 px wide searched whole
//!    ([`small`]): a small template of each reference correlated over the
//!    frame's pyramid, the best places refined and verified as in 4, where
//!    the keypoint path runs out of descriptor patch;
//! 6. with the `text` feature and catalog wordmarks, text read in the frame
//!    ([`text`]) as a second signal, and the two fused ([`fuse`]). A
//!    wordmark the keypoint path has not found is read where that path
//!    places one of its references, verified or not (a pose with as few as
//!    [`PLACEMENT_MIN_INLIERS`] inliers): the word's line in the reference,
//!    mapped into the frame. That costs one short read instead of a text
//!    detector over the whole frame, which only wordmarks without a legible
//!    reference still need ([`Reading`]).
//!
//! The frame is analysed at 1280 pixels wide (IVS thumbnails are 1280 or
//! 1920) and upsampled 1.5x first, so small logos still carry keypoints.
//!
//! Where each step lives: references as given and as analysed in
//! [`reference`] (a lockup's parts in [`parts`]); steps 1-5 in the private
//! `keypoints` module; step 6's reading in the private `wordmark` module
//! (only with `text`) and its rule in [`fusion`]. Boxes are [`RatioBox`]es
//! of the frame throughout.

pub mod fusion;
pub mod geometry;
pub mod gray;
pub mod index;
mod keypoints;
#[cfg(feature = "learned")]
pub mod learned;
pub mod orb;
pub mod parts;
pub mod ratio_box;
pub mod reference;
pub mod small;
#[cfg(feature = "text")]
pub mod text;
#[cfg(feature = "learned")]
pub mod torch_file;
pub mod verify;
#[cfg(feature = "text")]
mod wordmark;
#[cfg(feature = "learned")]
pub mod xfeat;

pub use fusion::{fuse, Found, Signal};
pub use gray::{decode, Gray};
use index::DescriptorIndex;
use orb::OrbParams;
pub use ratio_box::RatioBox;
use reference::AnalysedReference;
pub use reference::Reference;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VisionError {
    #[error("{0}")]
    Image(String),
    #[error("reference {source_name} for label {label:?}: {problem}")]
    Reference {
        label: String,
        source_name: String,
        problem: String,
    },
}

/// Labels are listed when their confidence reaches this (0–100), unless the
/// caller asks otherwise. Chosen on the evaluation sets (docs/detector.md):
/// 65 since transparent references are read on their own ground, where a
/// look-alike scored 61 against `aws-2.png`; no recall is lost at 65 on
/// the generated set or on either half of the real photos.
pub const DEFAULT_MIN_CONFIDENCE: f32 = 65.0;

#[derive(Clone, Debug)]
pub struct Params {
    pub frame: OrbParams,
    pub reference: OrbParams,
    /// Frame upsampling before analysis (1.0 = none).
    pub upsample: f32,
    pub ratio: f32,
    pub max_distance: u32,
    pub min_inliers: usize,
    pub ransac_iterations: usize,
    /// Where the wordmark signal reads (with the `text` feature).
    pub reading: Reading,
    /// Whether logos too small for keypoints are searched for whole
    /// ([`small`]).
    pub small_logos: bool,
    /// Whether ORB's keypoints are matched (off only to measure the learned
    /// features alone).
    pub orb: bool,
    /// Whether a lockup's parts (mark, word) are references too
    /// ([`parts`]).
    pub lockup_parts: bool,
}

/// Where the wordmark signal reads text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reading {
    /// Only wordmarks the keypoint path has not found, each where the
    /// keypoint path places one of its references; the whole frame only for
    /// wordmarks no reference shows legibly. The default: one short read a
    /// wordmark (docs/figures.md).
    #[default]
    WherePlaced,
    /// Every wordmark where it is placed, found or not: for scoring the
    /// signal on its own (`eval-detector`), at a read per placed wordmark.
    EveryPlacement,
    /// The text detector over the whole frame for every wordmark, whatever
    /// the keypoint path found (the text detector plus each line read): what a product
    /// known by its word alone gets, measured for comparison.
    WholeFrame,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            frame: OrbParams {
                max_keypoints: 5000,
                min_side: 100,
                // Enough to bring a logo half the frame wide (x1.5) down to
                // the reference's size; smaller scales are the reference
                // pyramid's job.
                max_levels: 10,
                ..OrbParams::default()
            },
            reference: OrbParams {
                max_keypoints: 1500,
                // Down to the logo's size in the upsampled frame when it is
                // 40 px wide there (about 16 px high for a wordmark).
                min_side: 16,
                max_levels: 20,
                cell: 24,
                pad: 16,
                ..OrbParams::default()
            },
            upsample: 1.5,
            ratio: 0.8,
            max_distance: 70,
            min_inliers: 10,
            ransac_iterations: 2000,
            reading: Reading::default(),
            small_logos: true,
            orb: true,
            lockup_parts: true,
        }
    }
}

/// The learned-features path's state: the network and each reference's
/// keypoints (same order as the references).
#[cfg(feature = "learned")]
struct Learned {
    net: std::sync::Arc<xfeat::XFeat>,
    references: Vec<learned::LearnedReference>,
}

pub struct BuiltinDetector {
    references: Vec<AnalysedReference>,
    /// XFeat's keypoints per reference, when learned features are on
    /// ([`BuiltinDetector::with_learned_features`]).
    #[cfg(feature = "learned")]
    learned: Option<Learned>,
    /// Every reference's descriptors in one index (see [`index`]).
    index: DescriptorIndex,
    params: Params,
    #[cfg(feature = "text")]
    text: Option<wordmark::WordmarkSignal>,
}

impl BuiltinDetector {
    /// Analyses the references once; a reference that cannot work is an
    /// error naming it, the problem and the fix.
    pub fn new(references: Vec<Reference>) -> Result<Self, VisionError> {
        Self::with_params(references, Params::default())
    }

    pub fn with_params(references: Vec<Reference>, params: Params) -> Result<Self, VisionError> {
        let references = reference::analyse(references, &params)?;
        let index =
            DescriptorIndex::build(references.iter().map(|r| r.features.descriptors.as_slice()));
        Ok(Self {
            references,
            #[cfg(feature = "learned")]
            learned: None,
            index,
            params,
            #[cfg(feature = "text")]
            text: None,
        })
    }

    /// Adds XFeat's learned keypoints beside ORB's: each reference is
    /// analysed at several sizes now, the frame once per call.
    #[cfg(feature = "learned")]
    pub fn with_learned_features(mut self, net: std::sync::Arc<xfeat::XFeat>) -> Self {
        let references = self
            .references
            .iter()
            .map(|r| learned::LearnedReference::new(&net, &r.image))
            .collect();
        self.learned = Some(Learned { net, references });
        self
    }

    /// Adds the second signal: `wordmarks` read in the frame by `reader`.
    #[cfg(feature = "text")]
    pub fn with_wordmarks(
        mut self,
        reader: std::sync::Arc<text::TextReader>,
        wordmarks: Vec<text::Wordmark>,
    ) -> Self {
        self.text = (!wordmarks.is_empty())
            .then(|| wordmark::WordmarkSignal::new(reader, wordmarks, &self.references));
        self
    }

    /// The labels this detector knows, sorted, without repeats.
    pub fn labels(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = self.references.iter().map(|r| r.label.as_str()).collect();
        #[cfg(feature = "text")]
        if let Some(signal) = &self.text {
            labels.extend(signal.wordmarks.iter().map(|w| w.label.as_str()));
        }
        labels.sort_unstable();
        labels.dedup();
        labels
    }

    /// Labels present in `frame` at `min_confidence` or more, most confident
    /// first; one entry per label.
    pub fn detect(&self, frame: &Gray, min_confidence: f32) -> Vec<Found> {
        let mut found: Vec<Found> = self
            .candidates(frame)
            .into_iter()
            .filter(|f| f.confidence >= min_confidence)
            .collect();
        found.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        found
    }

    /// The best candidate per label, whatever its confidence (for evaluation
    /// and threshold tuning): the keypoint path's and the text's, fused.
    pub fn candidates(&self, frame: &Gray) -> Vec<Found> {
        let keypoints = self.keypoint_candidates(frame);
        #[cfg(feature = "text")]
        if let Some(signal) = &self.text {
            return signal.fuse_with(frame, keypoints, &self.references, self.params.reading);
        }
        keypoints.best
    }
}
