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
//! 5. with the `text` feature and catalog wordmarks, text read in the frame
//!    ([`text`]) as a second signal, and the two fused ([`fuse`]).
//!
//! The frame is analysed at 1280 pixels wide (IVS thumbnails are 1280 or
//! 1920) and upsampled 1.5x first, so small logos still carry keypoints.

pub mod geometry;
pub mod gray;
pub mod index;
pub mod orb;
#[cfg(feature = "text")]
pub mod text;
pub mod verify;

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
/// caller asks otherwise. Chosen on the evaluation set (docs/detector.md).
pub const DEFAULT_MIN_CONFIDENCE: f32 = 60.0;

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
        }
    }
}

/// A reference image to analyse: (label, where it came from, pixels).
pub type NamedReference = (String, String, Gray);

/// One reference image, analysed once.
struct Reference {
    label: String,
    image: Gray,
    features: Features,
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
    /// Every reference's descriptors in one index (see [`index`]).
    index: DescriptorIndex,
    params: Params,
    #[cfg(feature = "text")]
    text: Option<(std::sync::Arc<text::TextReader>, Vec<text::Wordmark>)>,
}

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
                return Err(VisionError::Reference {
                    label,
                    source_name,
                    problem: format!(
                        "has too little texture to be recognised ({} keypoints, at least {MIN_REFERENCE_KEYPOINTS} needed); use a sharper, larger picture of the logo itself",
                        features.keypoints.len()
                    ),
                });
            }
            analysed.push(Reference {
                label,
                image,
                features,
            });
        }
        let index =
            DescriptorIndex::build(analysed.iter().map(|r| r.features.descriptors.as_slice()));
        Ok(Self {
            references: analysed,
            index,
            params,
            #[cfg(feature = "text")]
            text: None,
        })
    }

    /// Adds the second signal: `wordmarks` read in the frame by `reader`.
    #[cfg(feature = "text")]
    pub fn with_wordmarks(
        mut self,
        reader: std::sync::Arc<text::TextReader>,
        wordmarks: Vec<text::Wordmark>,
    ) -> Self {
        self.text = (!wordmarks.is_empty()).then_some((reader, wordmarks));
        self
    }

    /// The labels this detector knows, sorted, without repeats.
    pub fn labels(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = self.references.iter().map(|r| r.label.as_str()).collect();
        #[cfg(feature = "text")]
        if let Some((_, wordmarks)) = &self.text {
            labels.extend(wordmarks.iter().map(|w| w.label.as_str()));
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
    ///
    /// Every wordmark is read whatever the keypoint path found. Reading only
    /// the labels the keypoint path is unsure of was measured and saves
    /// nothing: with two wordmarks in the catalog and one logo in the frame,
    /// the other label is always unsure, so the text detector (the fixed
    /// cost) runs anyway.
    pub fn candidates(&self, frame: &Gray) -> Vec<Found> {
        #[allow(unused_mut)]
        let mut found = self.keypoint_candidates(frame);
        #[cfg(feature = "text")]
        if let Some((reader, wordmarks)) = &self.text {
            let read = text::find_wordmarks(reader, wordmarks, frame);
            let mut labels: Vec<String> = found.iter().map(|f| f.label.clone()).collect();
            labels.extend(read.iter().map(|r| wordmarks[r.0].label.clone()));
            labels.sort();
            labels.dedup();
            found = labels
                .iter()
                .filter_map(|label| {
                    let k = found.iter().find(|f| &f.label == label);
                    let t = read
                        .iter()
                        .filter(|r| &wordmarks[r.0].label == label)
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

    /// The best geometric candidate per label from the keypoint path alone.
    fn keypoint_candidates(&self, frame: &Gray) -> Vec<Found> {
        if frame.w < 16 || frame.h < 16 {
            return Vec::new();
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
            base
        };
        let t0 = std::time::Instant::now();
        let pyramid = Pyramid::build(&work, &self.params.frame);
        let t1 = std::time::Instant::now();
        let features = orb::extract(&pyramid, &self.params.frame);
        let t2 = std::time::Instant::now();
        let nearest = self
            .index
            .nearest(&features.descriptors, self.params.max_distance);
        let mut best: Vec<Found> = Vec::new();
        for (index, (reference, nearest)) in self.references.iter().zip(&nearest).enumerate() {
            let Some(found) = self.locate(reference, index, &pyramid, &features, nearest) else {
                continue;
            };
            match best.iter_mut().find(|b| b.label == found.label) {
                Some(b) if b.confidence >= found.confidence => {}
                Some(b) => *b = found,
                None => best.push(found),
            }
        }
        tracing::trace!(pyramid = ?(t1 - t0), features = ?(t2 - t1), locate = ?t2.elapsed(), "frame analysed");
        best
    }

    fn locate(
        &self,
        reference: &Reference,
        index: usize,
        pyramid: &Pyramid,
        frame: &Features,
        nearest: &[(usize, Nearest)],
    ) -> Option<Found> {
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
        if matches.len() < p.min_inliers {
            return None;
        }
        let (rw, rh) = (reference.image.w as f64, reference.image.h as f64);
        let groups = hough_groups(
            &matches,
            (rw / 2.0, rh / 2.0),
            rw.max(rh),
            p.min_inliers.min(6),
        );
        let mut best: Option<(Homography, Vec<usize>)> = None;
        for (g, group) in groups.iter().take(5).enumerate() {
            let Some((h, inliers)) = ransac_within(
                &matches,
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

        if inliers.len() < p.min_inliers {
            return None;
        }
        let quad = plausible_quad(&h, rw, rh, 16.0)?;
        let top = ((quad[1].0 - quad[0].0).hypot(quad[1].1 - quad[0].1)
            + (quad[2].0 - quad[3].0).hypot(quad[2].1 - quad[3].1))
            / 2.0;
        let verdict = verify::verify(pyramid, &reference.image, &h, top);
        tracing::trace!(label = %reference.label, reference = index, inliers = inliers.len(), ?verdict, "verified");
        let (fw, fh) = (pyramid.levels[0].w as f64, pyramid.levels[0].h as f64);
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
        let confidence = (verdict.score * 100.0).clamp(0.0, 100.0);
        let bbox = [
            (x0 / fw) as f32,
            (y0 / fh) as f32,
            ((x1 - x0) / fw) as f32,
            ((y1 - y0) / fh) as f32,
        ];
        fuse(
            &reference.label,
            Some((confidence, bbox)),
            None,
            inliers.len(),
        )
    }
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
