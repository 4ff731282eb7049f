//! The two signals (keypoints, the wordmark read) and how they make one
//! finding per label.

use crate::ratio_box::RatioBox;

/// One signal's finding: how sure it is (0-100) and where.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signal {
    pub confidence: f32,
    pub bbox: RatioBox,
}

/// A label found in a frame, Rekognition-shaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub label: String,
    /// 0 to 100: the two signals fused (see [`fuse`]).
    pub confidence: f32,
    pub bbox: RatioBox,
    pub inliers: usize,
    /// Each signal on its own, when it found the label.
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
    let Signal { confidence, bbox } = match (keypoints, text) {
        (None, None) => return None,
        (Some(k), None) => k,
        (None, Some(t)) => t,
        (Some(k), Some(t)) if k.bbox.meets(&t.bbox) => {
            let p = 1.0 - (1.0 - k.confidence / 100.0) * (1.0 - t.confidence / 100.0);
            Signal {
                confidence: (p * 100.0).clamp(0.0, 100.0),
                bbox: k.bbox,
            }
        }
        (Some(k), Some(t)) => {
            if k.confidence >= t.confidence {
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

/// Keeps `found` in `best` if it is its label's most confident so far: one
/// entry per label.
pub(crate) fn keep_best(best: &mut Vec<Found>, found: Found) {
    match best.iter_mut().find(|b| b.label == found.label) {
        Some(b) if b.confidence >= found.confidence => {}
        Some(b) => *b = found,
        None => best.push(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(confidence: f32, left: f32) -> Signal {
        Signal {
            confidence,
            bbox: RatioBox {
                left,
                top: 0.1,
                width: 0.2,
                height: 0.1,
            },
        }
    }

    #[test]
    fn agreeing_signals_add_up_as_independent_witnesses() {
        let found = fuse("aws", Some(signal(60.0, 0.1)), Some(signal(50.0, 0.2)), 12).unwrap();
        assert!((found.confidence - 80.0).abs() < 1e-3, "{found:?}");
        assert_eq!(found.bbox, signal(0.0, 0.1).bbox, "the keypoint box");
        assert_eq!(found.inliers, 12);
    }

    #[test]
    fn disagreeing_signals_leave_the_stronger_alone() {
        let found = fuse("aws", Some(signal(60.0, 0.1)), Some(signal(70.0, 0.6)), 12).unwrap();
        assert_eq!(found.confidence, 70.0);
        assert_eq!(found.bbox, signal(0.0, 0.6).bbox);
        assert_eq!(fuse("aws", None, None, 0), None);
    }

    #[test]
    fn one_entry_per_label_the_most_confident() {
        let mut best = Vec::new();
        for (label, confidence) in [("a", 50.0), ("b", 40.0), ("a", 70.0), ("a", 60.0)] {
            keep_best(
                &mut best,
                fuse(label, Some(signal(confidence, 0.1)), None, 0).unwrap(),
            );
        }
        let kept: Vec<(&str, f32)> = best
            .iter()
            .map(|f| (f.label.as_str(), f.confidence))
            .collect();
        assert_eq!(kept, [("a", 70.0), ("b", 40.0)]);
    }
}
