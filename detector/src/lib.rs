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

pub mod geometry;
pub mod gray;
pub mod index;
#[cfg(feature = "learned")]
pub mod learned;
pub mod orb;
pub mod parts;
pub mod small;
#[cfg(feature = "text")]
pub mod text;
#[cfg(feature = "learned")]
pub mod torch_file;
pub mod verify;
#[cfg(feature = "learned")]
pub mod xfeat;

use geometry::{hough_groups, plausible_quad, ransac_within, Homography, Match};

pub use gray::{decode, Gray};
use index::{DescriptorIndex, Nearest};
use orb::{Features, OrbParams, Pyramid};

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

/// The longest side references are analysed at.
const REFERENCE_SIDE: usize = 480;
/// The frame's analysis width before upsampling.
const FRAME_WIDTH: usize = 1280;
/// A reference's logo must be at least this long (pixels, after trimming).
const MIN_REFERENCE_SIDE: usize = 48;
/// Reference keypoints needed for a label to be findable at all.
const MIN_REFERENCE_KEYPOINTS: usize = 40;

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
    /// wordmarks no reference shows legibly. The default: 12-22 ms a read.
    #[default]
    WherePlaced,
    /// Every wordmark where it is placed, found or not: for scoring the
    /// signal on its own (`eval-detector`), at a read per placed wordmark.
    EveryPlacement,
    /// The text detector over the whole frame for every wordmark, whatever
    /// the keypoint path found (62 ms plus each line read): what a product
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

/// A reference image to analyse: (label, where it came from, pixels).
pub type NamedReference = (String, String, Gray);

/// The learned-features path's state: the network and each reference's
/// keypoints (same order as the references).
#[cfg(feature = "learned")]
struct Learned {
    net: std::sync::Arc<xfeat::XFeat>,
    references: Vec<learned::LearnedReference>,
}

/// One reference image, analysed once.
struct Reference {
    label: String,
    image: Gray,
    features: Features,
    /// For logos too small for keypoints; `None` when the reference does
    /// not make a usable small template (too elongated).
    small: Option<small::SmallTemplate>,
}

/// One signal's finding: confidence (0-100) and box (ratios of the frame:
/// left, top, width, height).
pub type Signal = (f32, [f32; 4]);

/// A label found in a frame, Rekognition-shaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub label: String,
    /// 0 to 100: the two signals fused (see [`fuse`]).
    pub confidence: f32,
    /// Ratios of the frame: left, top, width, height.
    pub bbox: [f32; 4],
    pub inliers: usize,
    /// Each signal on its own, when it found the label: confidence and box.
    pub keypoints: Option<Signal>,
    pub text: Option<Signal>,
}

/// The fusion rule. Each signal gives a confidence p (0-1) that the label is
/// in the frame. When both found it at overlapping places they are taken as
/// independent witnesses: 1 - (1 - p_keypoints)(1 - p_text), with the
/// keypoint box (it spans the whole logo, not only its letters). When only
/// one found it, or they disagree on where, the stronger one stands alone,
/// with its own box.
pub fn fuse(
    label: &str,
    keypoints: Option<Signal>,
    text: Option<Signal>,
    inliers: usize,
) -> Option<Found> {
    let (confidence, bbox) = match (keypoints, text) {
        (None, None) => return None,
        (Some(k), None) => k,
        (None, Some(t)) => t,
        (Some(k), Some(t)) if boxes_meet(k.1, t.1) => {
            let p = 1.0 - (1.0 - k.0 / 100.0) * (1.0 - t.0 / 100.0);
            ((p * 100.0).clamp(0.0, 100.0), k.1)
        }
        (Some(k), Some(t)) => {
            if k.0 >= t.0 {
                k
            } else {
                t
            }
        }
    };
    Some(Found {
        label: label.to_owned(),
        confidence,
        bbox,
        inliers,
        keypoints,
        text,
    })
}

fn boxes_meet(a: [f32; 4], b: [f32; 4]) -> bool {
    a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]
}

pub struct BuiltinDetector {
    references: Vec<Reference>,
    /// XFeat's keypoints per reference, when learned features are on
    /// ([`BuiltinDetector::with_learned_features`]).
    #[cfg(feature = "learned")]
    learned: Option<Learned>,
    /// Every reference's descriptors in one index (see [`index`]).
    index: DescriptorIndex,
    params: Params,
    #[cfg(feature = "text")]
    text: Option<WordmarkSignal>,
}

/// The second signal's state: the reader, the catalog's wordmarks, and
/// where each reference has its label's wordmark written.
#[cfg(feature = "text")]
struct WordmarkSignal {
    reader: std::sync::Arc<text::TextReader>,
    wordmarks: Vec<text::Wordmark>,
    /// Per reference (same order): the box (reference pixels) of the line
    /// that reads as its label's wordmark, when the reference has one.
    written: Vec<Option<[f32; 4]>>,
}

/// Where the keypoint path places a reference in the frame, verified or not:
/// the wordmark signal reads the reference's written word there.
#[derive(Clone, Copy, Debug)]
// Only the wordmark signal reads placements.
#[cfg_attr(not(feature = "text"), allow(dead_code))]
struct Placement {
    reference: usize,
    /// Reference pixels to the input frame's pixels.
    h: Homography,
    inliers: usize,
}

/// Pose hypotheses with this many inliers are placements worth reading,
/// though too few to report a logo on keypoints alone (`Params::min_inliers`).
const PLACEMENT_MIN_INLIERS: usize = 6;

impl BuiltinDetector {
    /// Analyses references given as (label, source name for messages, image).
    pub fn new(references: Vec<NamedReference>) -> Result<Self, VisionError> {
        Self::with_params(references, Params::default())
    }

    pub fn with_params(
        references: Vec<NamedReference>,
        params: Params,
    ) -> Result<Self, VisionError> {
        let mut analysed = Vec::with_capacity(references.len());
        for (label, source_name, image) in references {
            let image = image.trim();
            if image.w.max(image.h) < MIN_REFERENCE_SIDE || image.w.min(image.h) < 12 {
                return Err(VisionError::Reference {
                    label,
                    source_name,
                    problem: format!(
                        "is too small: {}x{} pixels once its plain margins are trimmed; give a picture in which the logo is at least {MIN_REFERENCE_SIDE} pixels wide",
                        image.w, image.h
                    ),
                });
            }
            let parts = if params.lockup_parts {
                parts::lockup_parts(&image)
            } else {
                Vec::new()
            };
            let whole = analyse_reference(&label, &image, &params).map_err(|keypoints| {
                VisionError::Reference {
                    label: label.clone(),
                    source_name: source_name.clone(),
                    problem: format!(
                        "has too little texture to be recognised ({keypoints} keypoints, at least {MIN_REFERENCE_KEYPOINTS} needed); use a sharper, larger picture of the logo itself"
                    ),
                }
            })?;
            analysed.push(whole);
            // A lockup's parts serve where they can; one too small or too
            // plain to recognise is left out, not an error.
            for (k, part) in parts.iter().enumerate() {
                if part.w.max(part.h) < MIN_REFERENCE_SIDE || part.w.min(part.h) < 12 {
                    continue;
                }
                match analyse_reference(&label, part, &params) {
                    // A part is found by keypoints only, never searched
                    // whole as a small logo: a part is less of a logo than
                    // the lockup, and at 35 px "us" in a printed page
                    // passed for the letters of "aws".
                    Ok(r) => analysed.push(Reference { small: None, ..r }),
                    Err(keypoints) => {
                        tracing::debug!(%label, %source_name, part = k, keypoints, "a lockup part too plain to recognise alone")
                    }
                }
            }
        }
        let index =
            DescriptorIndex::build(analysed.iter().map(|r| r.features.descriptors.as_slice()));
        Ok(Self {
            references: analysed,
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
        if wordmarks.is_empty() {
            self.text = None;
            return self;
        }
        let written = self
            .references
            .iter()
            .map(|r| {
                let wordmark = wordmarks.iter().find(|w| w.label == r.label)?;
                let found = reader.find_in_reference(&r.image, wordmark);
                if found.is_none() {
                    tracing::info!(label = %r.label, wordmark = %wordmark.spelled, "the wordmark is not legible in this reference: it is looked for in the whole frame instead");
                }
                found
            })
            .collect();
        self.text = Some(WordmarkSignal {
            reader,
            wordmarks,
            written,
        });
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
        #[allow(unused_mut, unused_variables)]
        let (mut found, placements) = self.keypoint_candidates(frame);
        #[cfg(feature = "text")]
        if let Some(signal) = &self.text {
            let read = signal.read(
                frame,
                &found,
                &placements,
                &self.references,
                self.params.reading,
            );
            let mut labels: Vec<String> = found.iter().map(|f| f.label.clone()).collect();
            labels.extend(read.iter().map(|r| signal.wordmarks[r.0].label.clone()));
            labels.sort();
            labels.dedup();
            found = labels
                .iter()
                .filter_map(|label| {
                    let k = found.iter().find(|f| &f.label == label);
                    let t = read
                        .iter()
                        .filter(|r| &signal.wordmarks[r.0].label == label)
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map(|r| (r.1, r.2));
                    fuse(
                        label,
                        k.and_then(|k| k.keypoints),
                        t,
                        k.map_or(0, |k| k.inliers),
                    )
                })
                .collect();
        }
        found
    }

    /// The best geometric candidate per label from the keypoint path alone,
    /// and the best placement of each reference (see [`Placement`]).
    fn keypoint_candidates(&self, frame: &Gray) -> (Vec<Found>, Vec<Placement>) {
        if frame.w < 16 || frame.h < 16 {
            return (Vec::new(), Vec::new());
        }
        // Work at a fixed resolution, so thresholds mean the same on every
        // input size; boxes come out as ratios anyway.
        let base = if frame.w > FRAME_WIDTH {
            frame.resize(FRAME_WIDTH, (frame.h * FRAME_WIDTH).div_ceil(frame.w))
        } else {
            frame.clone()
        };
        let up = self.params.upsample.max(1.0);
        let work = if up > 1.0 {
            base.resize(
                (base.w as f32 * up).round() as usize,
                (base.h as f32 * up).round() as usize,
            )
        } else {
            base.clone()
        };
        let t0 = std::time::Instant::now();
        let pyramid = Pyramid::build(&work, &self.params.frame);
        let t1 = std::time::Instant::now();
        let features = if self.params.orb {
            orb::extract(&pyramid, &self.params.frame)
        } else {
            Features::default()
        };
        let t2 = std::time::Instant::now();
        let nearest = self
            .index
            .nearest(&features.descriptors, self.params.max_distance);
        // The work image's pixels to the input frame's.
        let to_frame = frame.w as f64 / work.w as f64;
        let mut best: Vec<Found> = Vec::new();
        let mut placements = Vec::new();
        for (index, (reference, nearest)) in self.references.iter().zip(&nearest).enumerate() {
            let Some((found, h, inliers)) =
                self.locate(reference, index, &pyramid, &features, nearest)
            else {
                continue;
            };
            keep(
                &mut best,
                &mut placements,
                index,
                found,
                h,
                inliers,
                to_frame,
            );
        }
        #[cfg(feature = "learned")]
        if let Some(learned) = &self.learned {
            let frame_features = learned
                .net
                .detect_and_compute(&base, learned::FRAME_KEYPOINTS);
            // Base pixels to work pixels.
            let up = work.w as f64 / base.w as f64;
            for (index, (reference, lr)) in
                self.references.iter().zip(&learned.references).enumerate()
            {
                let matches = lr.matches(&frame_features, up);
                tracing::trace!(label = %reference.label, reference = index, matches = matches.len(), "learned matches");
                let Some((found, h, inliers)) = self.place(reference, index, &pyramid, &matches)
                else {
                    continue;
                };
                keep(
                    &mut best,
                    &mut placements,
                    index,
                    found,
                    h,
                    inliers,
                    to_frame,
                );
            }
        }
        let t3 = std::time::Instant::now();
        if self.params.small_logos {
            for found in self.small_candidates(&base, &pyramid, &features, &nearest, &best) {
                match best.iter_mut().find(|b| b.label == found.label) {
                    Some(b) if b.confidence >= found.confidence => {}
                    Some(b) => *b = found,
                    None => best.push(found),
                }
            }
        }
        tracing::trace!(pyramid = ?(t1 - t0), features = ?(t2 - t1), locate = ?(t3 - t2), small = ?t3.elapsed(), "frame analysed");
        (best, placements)
    }

    /// Labels the keypoint path has not found, looked for as small logos
    /// ([`small`]) in `base` (the frame at its analysis width), each place
    /// verified like a keypoint pose.
    ///
    /// The search costs the same per reference, so a frame searches at most
    /// [`small::MAX_TEMPLATES`] references: with more left unfound, those
    /// with the most descriptor matches that would make the logo small
    /// (some of a small logo's corners still match, too few to place it).
    /// The cost stays flat however large the catalog; the price is that in
    /// a large catalog a small logo is found only when its reference is
    /// among the best matched.
    fn small_candidates(
        &self,
        base: &Gray,
        pyramid: &Pyramid,
        frame: &Features,
        nearest: &[Vec<(usize, Nearest)>],
        found: &[Found],
    ) -> Vec<Found> {
        let work = &pyramid.levels[0];
        let up = work.w as f64 / base.w as f64;
        let mut templates: Vec<(usize, &small::SmallTemplate, usize)> = self
            .references
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                !found
                    .iter()
                    .any(|f| f.label == r.label && f.confidence >= DEFAULT_MIN_CONFIDENCE)
            })
            .filter_map(|(i, r)| Some((i, r.small.as_ref()?, 0)))
            .collect();
        if templates.len() > small::MAX_TEMPLATES {
            for (i, _, evidence) in &mut templates {
                let reference = &self.references[*i];
                *evidence = nearest.get(*i).map_or(0, |n| {
                    n.iter()
                        .filter(|(fi, top)| {
                            let (d, r) = top[0];
                            let (Some(fk), Some(rk)) = (
                                frame.keypoints.get(*fi),
                                reference.features.keypoints.get(r as usize),
                            ) else {
                                return false;
                            };
                            let scale = pyramid.scales[fk.level as usize]
                                / self.params.reference.scale_factor.powi(rk.level as i32);
                            let width = reference.image.w as f32 * scale / up as f32;
                            d <= self.params.max_distance && small::searched_width(width)
                        })
                        .count()
                });
            }
            templates.sort_by_key(|t| std::cmp::Reverse(t.2));
            templates.truncate(small::MAX_TEMPLATES);
        }
        let templates: Vec<(usize, &small::SmallTemplate)> =
            templates.into_iter().map(|(i, t, _)| (i, t)).collect();
        let mut out: Vec<Found> = Vec::new();
        let t0 = std::time::Instant::now();
        let places = small::search(pyramid, up as f32, &templates);
        tracing::trace!(search = ?t0.elapsed(), places = places.len(), "small logos searched");
        let (fw, fh) = (work.w as f64, work.h as f64);
        for place in &places {
            let reference = &self.references[place.template];
            let Some(template) = &reference.small else {
                continue;
            };
            let Some((h, z)) = small::refine(work, template, place) else {
                continue;
            };
            let (rw, rh) = (reference.image.w as f64, reference.image.h as f64);
            let quad = [(0.0, 0.0), (rw, 0.0), (rw, rh), (0.0, rh)].map(|(x, y)| h.apply(x, y));
            let [Some(a), Some(b), Some(c), Some(d)] = quad else {
                continue;
            };
            let width = (b.0 - a.0).abs();
            let verdict = verify::verify(pyramid, &reference.image, &h, width);
            tracing::trace!(label = %reference.label, reference = place.template, coarse = place.score, fine = z, width = width / up, ?verdict, "small logo");
            let Some(bbox) = bbox_of(&[a, b, c, d], fw, fh) else {
                continue;
            };
            let confidence = (verdict.score_alone() * 100.0).clamp(0.0, 100.0);
            if out
                .iter()
                .any(|o| o.label == reference.label && o.confidence >= confidence)
            {
                continue;
            }
            out.retain(|o| o.label != reference.label);
            out.extend(fuse(&reference.label, Some((confidence, bbox)), None, 0));
        }
        out
    }

    /// Where `reference` lies in the frame, if anywhere: the homography
    /// (reference to work pixels) and its inlier count, with the candidate
    /// it makes when it has enough inliers to stand on its own.
    fn locate(
        &self,
        reference: &Reference,
        index: usize,
        pyramid: &Pyramid,
        frame: &Features,
        nearest: &[(usize, Nearest)],
    ) -> Option<(Option<Found>, Homography, usize)> {
        let p = &self.params;
        let rf = &reference.features;
        // Two matches are "the same place" within this many reference pixels.
        let apart = (reference.image.w.max(reference.image.h) as f32 * 0.04).max(4.0);
        let mut matches = Vec::new();
        for &(fi, top) in nearest {
            let (d1, r1) = top[0];
            let Some(&k1) = rf.keypoints.get(r1 as usize) else {
                continue;
            };
            if d1 > p.max_distance {
                continue;
            }
            let rival = top[1..]
                .iter()
                .filter_map(|&(d, ri)| Some((d, *rf.keypoints.get(ri as usize)?)))
                .find(|(_, k)| (k.x - k1.x).hypot(k.y - k1.y) > apart)
                .map_or(256, |(d, _)| d);
            if d1 as f32 >= p.ratio * rival as f32 {
                continue;
            }
            let fk = frame.keypoints[fi];
            let frame_scale = pyramid.scales[fk.level as usize] as f64;
            let ref_scale = p.reference.scale_factor.powi(k1.level as i32) as f64;
            matches.push(Match {
                from: (k1.x as f64, k1.y as f64),
                to: (fk.x as f64, fk.y as f64),
                tolerance: 3.0 * frame_scale + 2.0,
                scale: frame_scale / ref_scale,
                rotation: (fk.angle - k1.angle) as f64,
            });
        }
        tracing::trace!(label = %reference.label, reference = index, reference_keypoints = rf.keypoints.len(), frame_keypoints = frame.keypoints.len(), matches = matches.len(), "matched");
        self.place(reference, index, pyramid, &matches)
    }

    /// Where `matches` (reference to work pixels) place `reference`, if
    /// anywhere: pose voting, RANSAC in each pose group, the outline's
    /// plausibility, then verification ([`verify`]). Whatever gave the
    /// matches (ORB or XFeat), the geometry and the verdict are these.
    fn place(
        &self,
        reference: &Reference,
        index: usize,
        pyramid: &Pyramid,
        matches: &[Match],
    ) -> Option<(Option<Found>, Homography, usize)> {
        let p = &self.params;
        if matches.len() < PLACEMENT_MIN_INLIERS {
            return None;
        }
        let (rw, rh) = (reference.image.w as f64, reference.image.h as f64);
        let groups = hough_groups(
            matches,
            (rw / 2.0, rh / 2.0),
            rw.max(rh),
            p.min_inliers.min(PLACEMENT_MIN_INLIERS),
        );
        let mut best: Option<(Homography, Vec<usize>)> = None;
        for (g, group) in groups.iter().take(5).enumerate() {
            let Some((h, inliers)) = ransac_within(
                matches,
                group,
                p.ransac_iterations / 5,
                0x5EED ^ (index * 8 + g) as u64,
            ) else {
                continue;
            };
            if plausible_quad(&h, rw, rh, 16.0).is_some()
                && inliers.len() > best.as_ref().map_or(0, |b| b.1.len())
            {
                best = Some((h, inliers));
            }
        }
        let (h, inliers) = best?;
        if inliers.len() < PLACEMENT_MIN_INLIERS {
            return None;
        }
        if inliers.len() < p.min_inliers {
            return Some((None, h, inliers.len()));
        }
        let quad = plausible_quad(&h, rw, rh, 16.0)?;
        let top = ((quad[1].0 - quad[0].0).hypot(quad[1].1 - quad[0].1)
            + (quad[2].0 - quad[3].0).hypot(quad[2].1 - quad[3].1))
            / 2.0;
        let verdict = verify::verify(pyramid, &reference.image, &h, top);
        tracing::trace!(label = %reference.label, reference = index, inliers = inliers.len(), ?verdict, "verified");
        let (fw, fh) = (pyramid.levels[0].w as f64, pyramid.levels[0].h as f64);
        let Some(bbox) = bbox_of(&quad, fw, fh) else {
            return Some((None, h, inliers.len()));
        };
        let confidence = (verdict.score * 100.0).clamp(0.0, 100.0);
        let found = fuse(
            &reference.label,
            Some((confidence, bbox)),
            None,
            inliers.len(),
        );
        Some((found, h, inliers.len()))
    }
}

#[cfg(feature = "text")]
impl WordmarkSignal {
    /// The wordmarks read in `frame`: (index into `wordmarks`, confidence,
    /// box as ratios), one per wordmark at most.
    ///
    /// A wordmark the keypoint path already found at the default threshold
    /// is not read: reading could only raise a verdict already reached. The
    /// others are read where the keypoint path places one of their
    /// references, straight out of the word's box in that reference mapped
    /// through the placement (so a rotated or tilted word is read upright),
    /// most inliers first: one short line, 12-22 ms, instead of the text
    /// detector over the whole frame (62 ms) and its lines. A wordmark
    /// whose references do not show it legibly (or that has none) is looked
    /// for in the whole frame, as before: the catalog may name a product by
    /// its word alone.
    fn read(
        &self,
        frame: &Gray,
        found: &[Found],
        placements: &[Placement],
        references: &[Reference],
        reading: Reading,
    ) -> Vec<(usize, f32, [f32; 4])> {
        let mut read = Vec::new();
        let mut whole_frame = Vec::new();
        // (wordmark, placement, word box): one per wordmark, its placement
        // with the most inliers.
        let mut to_read: Vec<(usize, &Placement, [f32; 4])> = Vec::new();
        for (i, wordmark) in self.wordmarks.iter().enumerate() {
            let sure = found
                .iter()
                .any(|f| f.label == wordmark.label && f.confidence >= DEFAULT_MIN_CONFIDENCE);
            if sure && reading == Reading::WherePlaced {
                continue;
            }
            let legible = |r: usize| {
                references.get(r).is_some_and(|r| r.label == wordmark.label)
                    && self.written.get(r).is_some_and(Option::is_some)
            };
            if reading == Reading::WholeFrame || !(0..references.len()).any(legible) {
                whole_frame.push(i);
                continue;
            }
            let best = placements
                .iter()
                .filter(|p| legible(p.reference))
                .max_by_key(|p| p.inliers);
            if let Some((placement, Some(word))) = best.map(|p| (p, self.written[p.reference])) {
                to_read.push((i, placement, word));
            }
        }
        // Bounded like the whole-frame path: the best-placed first, until
        // the recogniser's budget for a frame is spent.
        to_read.sort_by_key(|r| std::cmp::Reverse(r.1.inliers));
        let mut budget = text::READ_BUDGET;
        for (i, placement, word) in to_read {
            let cost = self.reader.width_for(text::line_length(word[2], word[3]));
            if cost > budget {
                continue;
            }
            budget -= cost;
            if let Some((confidence, bbox)) =
                self.read_placed(frame, &self.wordmarks[i], placement, word)
            {
                read.push((i, confidence, bbox));
            }
        }
        if !whole_frame.is_empty() {
            let wanted: Vec<&text::Wordmark> =
                whole_frame.iter().map(|&i| &self.wordmarks[i]).collect();
            for (k, confidence, bbox) in text::find_wordmarks(&self.reader, &wanted, frame) {
                read.push((whole_frame[k], confidence, bbox));
            }
        }
        read
    }

    /// Reads the reference's word box `word` where `placement` puts it in the
    /// frame: the wordmark's confidence and the box (ratios), if it reads
    /// as the wordmark.
    fn read_placed(
        &self,
        frame: &Gray,
        wordmark: &text::Wordmark,
        placement: &Placement,
        word: [f32; 4],
    ) -> Option<Signal> {
        let [bx, by, bw, bh] = word.map(f64::from);
        let h = &placement.h;
        let corners = [(bx, by), (bx + bw, by), (bx + bw, by + bh), (bx, by + bh)]
            .map(|(x, y)| h.apply(x, y));
        let [Some(tl), Some(tr), Some(br), Some(bl)] = corners else {
            return None;
        };
        let high = ((bl.0 - tl.0).hypot(bl.1 - tl.1) + (br.0 - tr.0).hypot(br.1 - tr.1)) / 2.0;
        let long = ((tr.0 - tl.0).hypot(tr.1 - tl.1) + (br.0 - bl.0).hypot(br.1 - bl.1)) / 2.0;
        // A word under 6 px high cannot be read, and one larger than the
        // frame is a wrong placement.
        if !(6.0..=frame.h as f64).contains(&high) || long > 2.0 * frame.w as f64 {
            return None;
        }
        let line_h = text::REC_H as f64;
        let want = text::line_length(word[2], word[3]);
        let (kx, ky) = (bw / want as f64, bh / line_h);
        let step = (high / line_h).max(long / want as f64) as f32;
        let line = self.reader.read_line(frame, want, step, |x, y| {
            h.apply(bx + x as f64 * kx - 0.5, by + y as f64 * ky - 0.5)
                .map_or((-1.0, -1.0), |(x, y)| (x as f32, y as f32))
        })?;
        let line = text::TextLine {
            chars: line,
            bbox: [0.0; 4],
        };
        tracing::trace!(label = %wordmark.label, text = %line.text(), inliers = placement.inliers, "read where the keypoints place the logo");
        let confidence = wordmark.matched_in(&line)?;
        Some((
            confidence,
            bbox_of(&[tl, tr, br, bl], frame.w as f64, frame.h as f64)?,
        ))
    }
}

/// A trimmed reference (or lockup part) scaled to the analysis size, with
/// its keypoints and small template; the keypoint count when too few.
fn analyse_reference(label: &str, image: &Gray, params: &Params) -> Result<Reference, usize> {
    let scale = (REFERENCE_SIDE as f32 / image.w.max(image.h) as f32).min(1.0);
    let image = image.resize(
        ((image.w as f32 * scale).round() as usize).max(1),
        ((image.h as f32 * scale).round() as usize).max(1),
    );
    let features = orb::extract(
        &Pyramid::build(&image, &params.reference),
        &params.reference,
    );
    if features.keypoints.len() < MIN_REFERENCE_KEYPOINTS {
        return Err(features.keypoints.len());
    }
    let small = small::SmallTemplate::new(&image);
    Ok(Reference {
        label: label.to_owned(),
        image,
        features,
        small,
    })
}

/// Records where a reference was placed (`h`, work pixels, scaled by
/// `to_frame` into the input frame's) and keeps its candidate if it is its
/// label's most confident so far.
fn keep(
    best: &mut Vec<Found>,
    placements: &mut Vec<Placement>,
    reference: usize,
    found: Option<Found>,
    h: Homography,
    inliers: usize,
    to_frame: f64,
) {
    let mut in_frame = h;
    for v in &mut in_frame.0[..6] {
        *v *= to_frame;
    }
    placements.push(Placement {
        reference,
        h: in_frame,
        inliers,
    });
    let Some(found) = found else {
        return;
    };
    match best.iter_mut().find(|b| b.label == found.label) {
        Some(b) if b.confidence >= found.confidence => {}
        Some(b) => *b = found,
        None => best.push(found),
    }
}

/// The box (ratios: left, top, width, height) around a quad of points in an
/// image `fw` x `fh`, cut to the image; `None` when nothing of it is inside.
fn bbox_of(quad: &[(f64, f64); 4], fw: f64, fh: f64) -> Option<[f32; 4]> {
    let xs = quad.iter().map(|q| q.0);
    let ys = quad.iter().map(|q| q.1);
    let (x0, x1) = (
        xs.clone().fold(f64::MAX, f64::min).max(0.0),
        xs.fold(f64::MIN, f64::max).min(fw),
    );
    let (y0, y1) = (
        ys.clone().fold(f64::MAX, f64::min).max(0.0),
        ys.fold(f64::MIN, f64::max).min(fh),
    );
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    Some([
        (x0 / fw) as f32,
        (y0 / fh) as f32,
        ((x1 - x0) / fw) as f32,
        ((y1 - y0) / fh) as f32,
    ])
}

/// Reads a reference image file for `label`, with errors that name both.
pub fn load_reference(label: &str, path: &std::path::Path) -> Result<NamedReference, VisionError> {
    let source_name = path.display().to_string();
    let err = |problem: String| VisionError::Reference {
        label: label.to_owned(),
        source_name: source_name.clone(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read the file: {e}")))?;
    let image = gray::decode(&bytes).map_err(|e| err(e.to_string()))?;
    Ok((label.to_owned(), source_name, image))
}
