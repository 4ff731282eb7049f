//! The keypoint path: a frame's keypoints matched against every reference's
//! (ORB, and XFeat's with the `learned` feature), each reference placed by
//! pose voting and RANSAC and verified; then the labels still unfound
//! searched whole as small logos.

use crate::fusion::{fuse, keep_best, Found, Signal};
use crate::geometry::{hough_groups, plausible_quad, ransac_within, Homography, Match};
use crate::gray::Gray;
use crate::index::Nearest;
use crate::orb::{self, Features, Pyramid};
use crate::ratio_box::RatioBox;
use crate::reference::AnalysedReference;
use crate::{small, verify, BuiltinDetector, DEFAULT_MIN_CONFIDENCE};

/// The frame's analysis width before upsampling.
const FRAME_WIDTH: usize = 1280;

/// Pose hypotheses with this many inliers are placements worth reading,
/// though too few to report a logo on keypoints alone (`Params::min_inliers`).
pub(crate) const PLACEMENT_MIN_INLIERS: usize = 6;

/// Where the keypoint path places a reference in the frame, verified or not:
/// the wordmark signal reads the reference's written word there.
#[derive(Clone, Copy, Debug)]
// Only the wordmark signal reads placements.
#[cfg_attr(not(feature = "text"), allow(dead_code))]
pub(crate) struct Placement {
    /// Index into the detector's references.
    pub reference: usize,
    /// Reference pixels to the input frame's pixels.
    pub h: Homography,
    pub inliers: usize,
}

/// Where matches place one reference: the homography (reference to work
/// pixels), its inliers, and the candidate it makes when it has enough of
/// them to stand on its own and its outline falls in the frame.
struct Pose {
    h: Homography,
    inliers: usize,
    found: Option<Found>,
}

/// What the keypoint path found in a frame: the best candidate per label,
/// and every reference's placement.
#[derive(Default)]
pub(crate) struct KeypointFindings {
    pub best: Vec<Found>,
    pub placements: Vec<Placement>,
}

impl KeypointFindings {
    /// Records where reference `reference` was placed (`pose.h` in work
    /// pixels, scaled by `to_frame` into the input frame's) and keeps its
    /// candidate if it is its label's most confident so far.
    fn add(&mut self, reference: usize, pose: Pose, to_frame: f64) {
        let mut in_frame = pose.h;
        for v in &mut in_frame.0[..6] {
            *v *= to_frame;
        }
        self.placements.push(Placement {
            reference,
            h: in_frame,
            inliers: pose.inliers,
        });
        if let Some(found) = pose.found {
            keep_best(&mut self.best, found);
        }
    }
}

/// A reference searched whole as a small logo, and how many of the frame's
/// descriptor matches would make it small (to choose among many).
struct SmallSearch<'a> {
    reference: usize,
    template: &'a small::SmallTemplate,
    evidence: usize,
}

impl BuiltinDetector {
    /// The best geometric candidate per label from the keypoint path alone,
    /// and the placement of each reference (see [`Placement`]).
    pub(crate) fn keypoint_candidates(&self, frame: &Gray) -> KeypointFindings {
        let mut findings = KeypointFindings::default();
        if frame.w < 16 || frame.h < 16 {
            return findings;
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
        for (index, (reference, nearest)) in self.references.iter().zip(&nearest).enumerate() {
            let matches = self.orb_matches(reference, &pyramid, &features, nearest);
            tracing::trace!(label = %reference.label, reference = index, reference_keypoints = reference.features.keypoints.len(), frame_keypoints = features.keypoints.len(), matches = matches.len(), "matched");
            if let Some(pose) = self.place(reference, index, &pyramid, &matches) {
                findings.add(index, pose, to_frame);
            }
        }
        #[cfg(feature = "learned")]
        if let Some(learned) = &self.learned {
            let frame_features = learned
                .net
                .detect_and_compute(&base, crate::learned::FRAME_KEYPOINTS);
            // Base pixels to work pixels.
            let up = work.w as f64 / base.w as f64;
            for (index, (reference, lr)) in
                self.references.iter().zip(&learned.references).enumerate()
            {
                let matches = lr.matches(&frame_features, up);
                tracing::trace!(label = %reference.label, reference = index, matches = matches.len(), "learned matches");
                if let Some(pose) = self.place(reference, index, &pyramid, &matches) {
                    findings.add(index, pose, to_frame);
                }
            }
        }
        let t3 = std::time::Instant::now();
        if self.params.small_logos {
            for found in self.small_candidates(&base, &pyramid, &features, &nearest, &findings.best)
            {
                keep_best(&mut findings.best, found);
            }
        }
        tracing::trace!(pyramid = ?(t1 - t0), features = ?(t2 - t1), locate = ?(t3 - t2), small = ?t3.elapsed(), "frame analysed");
        findings
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
        let mut searches: Vec<SmallSearch> = self
            .references
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                !found
                    .iter()
                    .any(|f| f.label == r.label && f.confidence >= DEFAULT_MIN_CONFIDENCE)
            })
            .filter_map(|(reference, r)| {
                Some(SmallSearch {
                    reference,
                    template: r.small.as_ref()?,
                    evidence: 0,
                })
            })
            .collect();
        if searches.len() > small::MAX_TEMPLATES {
            for search in &mut searches {
                let reference = &self.references[search.reference];
                search.evidence = nearest.get(search.reference).map_or(0, |n| {
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
            searches.sort_by_key(|s| std::cmp::Reverse(s.evidence));
            searches.truncate(small::MAX_TEMPLATES);
        }
        let templates: Vec<(usize, &small::SmallTemplate)> =
            searches.iter().map(|s| (s.reference, s.template)).collect();
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
            let Some(bbox) = RatioBox::around(&[a, b, c, d], fw, fh) else {
                continue;
            };
            let signal = Signal {
                confidence: (verdict.score_alone() * 100.0).clamp(0.0, 100.0),
                bbox,
            };
            if let Some(found) = fuse(&reference.label, Some(signal), None, 0) {
                keep_best(&mut out, found);
            }
        }
        out
    }

    /// ORB's matches of the frame's keypoints to `reference`'s (reference to
    /// work pixels): those that pass Lowe's ratio test against the
    /// next-best match *at a different place* in the reference.
    fn orb_matches(
        &self,
        reference: &AnalysedReference,
        pyramid: &Pyramid,
        frame: &Features,
        nearest: &[(usize, Nearest)],
    ) -> Vec<Match> {
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
            let Some(&fk) = frame.keypoints.get(fi) else {
                continue;
            };
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
        matches
    }

    /// Where `matches` (reference to work pixels) place `reference`, if
    /// anywhere: pose voting, RANSAC in each pose group, the outline's
    /// plausibility, then verification ([`verify`]). Whatever gave the
    /// matches (ORB or XFeat), the geometry and the verdict are these.
    fn place(
        &self,
        reference: &AnalysedReference,
        index: usize,
        pyramid: &Pyramid,
        matches: &[Match],
    ) -> Option<Pose> {
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
        let inliers = inliers.len();
        if inliers < PLACEMENT_MIN_INLIERS {
            return None;
        }
        let unverified = Pose {
            h,
            inliers,
            found: None,
        };
        if inliers < p.min_inliers {
            return Some(unverified);
        }
        let quad = plausible_quad(&h, rw, rh, 16.0)?;
        let top = ((quad[1].0 - quad[0].0).hypot(quad[1].1 - quad[0].1)
            + (quad[2].0 - quad[3].0).hypot(quad[2].1 - quad[3].1))
            / 2.0;
        let verdict = verify::verify(pyramid, &reference.image, &h, top);
        tracing::trace!(label = %reference.label, reference = index, inliers, ?verdict, "verified");
        let (fw, fh) = (pyramid.levels[0].w as f64, pyramid.levels[0].h as f64);
        let Some(bbox) = RatioBox::around(&quad, fw, fh) else {
            return Some(unverified);
        };
        let signal = Signal {
            confidence: (verdict.score * 100.0).clamp(0.0, 100.0),
            bbox,
        };
        Some(Pose {
            found: fuse(&reference.label, Some(signal), None, inliers),
            ..unverified
        })
    }
}
