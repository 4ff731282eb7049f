//! Learned keypoints ([`crate::xfeat`]) matched between a reference and the
//! frame, as [`Match`]es for the same pose voting, RANSAC and verification
//! as ORB's.
//!
//! XFeat's keypoints carry no scale or orientation, so the reference is
//! analysed at several sizes (each match then knows the scale it implies)
//! and matches are taken upright: logos on screen, stage and print are
//! rarely turned more than the descriptor tolerates.

use crate::geometry::Match;
use crate::gray::Gray;
use crate::xfeat::{XFeat, XFeatures, DIM};

/// Keypoints kept in a frame, best first.
pub const FRAME_KEYPOINTS: usize = 4096;
/// Keypoints kept per reference size.
const REFERENCE_KEYPOINTS: usize = 512;
/// The smallest reference size analysed (longest side, pixels).
const SMALLEST_SIDE: f32 = 40.0;
/// Each size is the last over this.
const SIZE_STEP: f32 = std::f32::consts::SQRT_2;
/// Plain margin around each size, so keypoints near the logo's edge see
/// its outline as in a frame.
const PAD: usize = 16;
/// A match's cosine at least (XFeat's own matcher takes 0.82 for mutual
/// nearest neighbours; with the ratio test below, 0.7 keeps more).
const MIN_COSINE: f32 = 0.7;
/// Lowe's ratio: the best match's distance under this times the rival's.
const RATIO: f32 = 0.9;

/// A reference's keypoints at every analysed size, in reference pixels.
pub struct LearnedReference {
    points: Vec<(f32, f32)>,
    /// The size's scale (size over the reference) per keypoint.
    scales: Vec<f32>,
    descriptors: Vec<f32>,
}

impl LearnedReference {
    pub fn new(net: &XFeat, image: &Gray) -> Self {
        let mut out = Self {
            points: Vec::new(),
            scales: Vec::new(),
            descriptors: Vec::new(),
        };
        let longest = image.w.max(image.h) as f32;
        let mut scale = 1.0f32;
        while longest * scale >= SMALLEST_SIDE {
            let (w, h) = (
                ((image.w as f32 * scale).round() as usize).max(1),
                ((image.h as f32 * scale).round() as usize).max(1),
            );
            let sized = image.resize(w, h).padded(PAD);
            let f = net.detect_and_compute(&sized, REFERENCE_KEYPOINTS);
            for i in 0..f.len() {
                let (x, y) = f.points[i];
                let (x, y) = ((x - PAD as f32) / scale, (y - PAD as f32) / scale);
                let slack = 2.0 / scale;
                if x < -slack
                    || y < -slack
                    || x > image.w as f32 + slack
                    || y > image.h as f32 + slack
                {
                    continue;
                }
                out.points.push((x, y));
                out.scales.push(scale);
                out.descriptors.extend_from_slice(f.descriptor(i));
            }
            scale /= SIZE_STEP;
        }
        out
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Each frame keypoint's nearest reference keypoint (frame points in
    /// base pixels, `up` times smaller than work pixels), where it passes
    /// the ratio test. Measured against mutual nearest neighbours at 0.82:
    /// neither placed a logo on the real photos (docs/detector.md).
    pub fn matches(&self, frame: &XFeatures, up: f64) -> Vec<Match> {
        let (nf, nr) = (frame.len(), self.len());
        if nf == 0 || nr == 0 {
            return Vec::new();
        }
        let a = ndarray::ArrayView2::from_shape((nf, DIM), &frame.descriptors[..]);
        let b = ndarray::ArrayView2::from_shape((nr, DIM), &self.descriptors[..]);
        let (Ok(a), Ok(b)) = (a, b) else {
            return Vec::new();
        };
        let sim = a.dot(&b.t());
        // Lowe's ratio test against the next-best reference keypoint at
        // another place (the same corner seen at two sizes is no rival).
        let mut out = Vec::new();
        for (i, row) in sim.outer_iter().enumerate() {
            let mut best = (f32::MIN, usize::MAX);
            for (j, &s) in row.iter().enumerate() {
                if s > best.0 {
                    best = (s, j);
                }
            }
            if best.1 == usize::MAX || best.0 < MIN_COSINE {
                continue;
            }
            let (bx, by) = self.points[best.1];
            let apart = 6.0 / self.scales[best.1];
            let rival = row
                .iter()
                .enumerate()
                .filter(|(j, _)| {
                    let (x, y) = self.points[*j];
                    (x - bx).hypot(y - by) > apart
                })
                .map(|(_, s)| *s)
                .fold(-1.0f32, f32::max);
            // Distances of unit vectors: d^2 = 2 - 2 cos.
            let (d1, d2) = (
                (2.0 - 2.0 * best.0).max(0.0).sqrt(),
                (2.0 - 2.0 * rival).max(0.0).sqrt(),
            );
            if d1 >= RATIO * d2 {
                continue;
            }
            let j = best.1;
            let (fx, fy) = frame.points[i];
            out.push(Match {
                from: (self.points[j].0 as f64, self.points[j].1 as f64),
                to: (fx as f64 * up, fy as f64 * up),
                tolerance: 4.0 * up,
                scale: up / self.scales[j] as f64,
                rotation: 0.0,
            });
        }
        out
    }
}
