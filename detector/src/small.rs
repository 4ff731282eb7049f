//! Small logos, about 36 to 120 pixels wide in a 1280-wide frame, where the
//! keypoint path runs out: its 31-pixel descriptor patch spans a third of
//! such a logo and the background around it, so the frame's descriptors no
//! longer resemble the reference's.
//!
//! Here the whole logo is the feature. Each reference is shrunk to a small
//! template; the frame is searched at a few scales with zero-mean normalised
//! cross-correlation (ZNCC), which is blind to brightness, contrast and, taken
//! in absolute value, polarity — invariant by construction to the inverted and
//! recoloured looks the keypoint path handles. The few best places are refined
//! with a larger template and then judged by the same cell-by-cell comparison
//! as every keypoint pose ([`crate::verify`]), so a look-alike is rejected
//! here for the same reason it is rejected there.
//!
//! The search is upright: it holds to a few degrees of turn and mild
//! perspective (measured on the evaluation's ±5°), which is how a small
//! logo on a shirt, mug or slide appears.
//! A turned logo large enough to carry keypoints is the keypoint path's.
//!
//! Cost: the coarse search is a few sparse correlations per position,
//! vectorised along rows (see [`search`]); the refinement and the
//! verification run only at the few best places.

use crate::geometry::Homography;
use crate::gray::Gray;
use crate::orb::Pyramid;

/// Width (pixels) of the coarse template: the logo is looked for at each
/// pyramid level as this wide.
const COARSE_WIDTH: usize = 20;
/// Pixels of the coarse template that are correlated (the most telling of
/// ink and of ground, spread over the logo).
const COARSE_SAMPLES: usize = 24;
/// Logo widths searched, in pixels of the 1280-wide frame.
const MIN_WIDTH: f32 = 36.0;
const MAX_WIDTH: f32 = 120.0;
/// A window flatter than this (grey-level standard deviation) holds no logo.
const FLAT: f32 = 4.0;
/// Coarse correlation a place needs to be looked at more closely.
const COARSE_MIN: f32 = 0.45;
/// Places refined and verified per reference and frame at most, best first.
/// Per reference, not per frame: the scores of two templates are not on one
/// scale (the window's spread stands in for the samples'), so a reference
/// whose template fires on any texture must not crowd the others out.
pub const PLACES_PER_TEMPLATE: usize = 2;
/// References searched per frame at most (see `BuiltinDetector`'s
/// `small_candidates`): the search costs the same for each.
pub const MAX_TEMPLATES: usize = 4;

/// Whether a logo `width` pixels wide in the 1280-wide frame is in the
/// range searched here (with half a pyramid step of slack).
pub fn searched_width(width: f32) -> bool {
    (MIN_WIDTH / 1.12..=MAX_WIDTH * 1.12).contains(&width)
}

/// Width (pixels) of the refinement template.
const FINE_WIDTH: usize = 48;
/// Refined correlation a place needs before it is verified.
const FINE_MIN: f32 = 0.5;

/// One reference, prepared for the search.
pub struct SmallTemplate {
    /// Coarse template size.
    w: usize,
    h: usize,
    /// (row, column, weight): zero-mean weights over the chosen pixels.
    samples: Vec<(usize, usize, f32)>,
    /// The weights' norm times the root of their count: the correlation's
    /// denominator, short of the window's standard deviation.
    norm: f32,
    /// The refinement template, and its pixels' zero-mean values.
    fine_w: usize,
    fine_h: usize,
    fine: Vec<f32>,
    fine_norm: f32,
    /// The reference's own size (pixels), which the pose maps from.
    ref_w: usize,
    ref_h: usize,
}

impl SmallTemplate {
    /// `None` when the reference is too elongated for a small template (a
    /// side under 6 px) or has no contrast at that size.
    pub fn new(reference: &Gray) -> Option<Self> {
        let aspect = reference.h as f32 / reference.w.max(1) as f32;
        let h = (COARSE_WIDTH as f32 * aspect).round() as usize;
        if !(6..=3 * COARSE_WIDTH).contains(&h) {
            return None;
        }
        let coarse = reference.resize(COARSE_WIDTH, h);
        let samples = pick_samples(&coarse, COARSE_SAMPLES)?;
        // The samples stand for the window: their spread is taken as the
        // window's, so the score is a correlation up to that estimate.
        let norm =
            samples.iter().map(|s| s.2 * s.2).sum::<f32>().sqrt() * (samples.len() as f32).sqrt();
        let fine_h = ((FINE_WIDTH as f32 * aspect).round() as usize).max(8);
        let fine_img = reference.resize(FINE_WIDTH, fine_h).blur(0.7);
        let mean = fine_img.px.iter().map(|&p| p as f32).sum::<f32>() / fine_img.px.len() as f32;
        let fine: Vec<f32> = fine_img.px.iter().map(|&p| p as f32 - mean).collect();
        let fine_norm = fine.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm < 1.0 || fine_norm < 1.0 {
            return None;
        }
        Some(Self {
            w: COARSE_WIDTH,
            h,
            samples,
            norm,
            fine_w: FINE_WIDTH,
            fine_h,
            fine,
            fine_norm,
            ref_w: reference.w,
            ref_h: reference.h,
        })
    }
}

/// The most telling pixels of `t`: the furthest from its mean, as many above
/// as below it, no two touching; weights re-centred over the chosen ones so
/// that the window's mean drops out of the correlation.
fn pick_samples(t: &Gray, n: usize) -> Option<Vec<(usize, usize, f32)>> {
    let mean = t.px.iter().map(|&p| p as f32).sum::<f32>() / t.px.len().max(1) as f32;
    let mut order: Vec<usize> = (0..t.px.len()).collect();
    order.sort_by(|&a, &b| {
        let (da, db) = (t.px[a] as f32 - mean, t.px[b] as f32 - mean);
        db.abs().total_cmp(&da.abs())
    });
    let mut taken = vec![false; t.px.len()];
    let mut chosen: Vec<usize> = Vec::with_capacity(n);
    let (mut above, mut below) = (0, 0);
    for spacing in [2usize, 1, 0] {
        for &i in &order {
            if chosen.len() >= n {
                break;
            }
            let is_above = t.px[i] as f32 > mean;
            if taken[i] || (is_above && above >= n / 2) || (!is_above && below >= n / 2) {
                continue;
            }
            let (x, y) = (i % t.w, i / t.w);
            let near = chosen.iter().any(|&j| {
                let (u, v) = (j % t.w, j / t.w);
                x.abs_diff(u) < spacing && y.abs_diff(v) < spacing
            });
            if near {
                continue;
            }
            taken[i] = true;
            chosen.push(i);
            if is_above {
                above += 1;
            } else {
                below += 1;
            }
        }
    }
    if above < n / 4 || below < n / 4 {
        return None;
    }
    let m = chosen.iter().map(|&i| t.px[i] as f32).sum::<f32>() / chosen.len() as f32;
    let mut samples: Vec<(usize, usize, f32)> = chosen
        .iter()
        .map(|&i| (i / t.w, i % t.w, t.px[i] as f32 - m))
        .collect();
    samples.sort_by_key(|s| (s.0, s.1));
    Some(samples)
}

/// A place worth verifying: which template, and the logo's box in the
/// frame's pixels (left, top, width; the height follows from the template).
#[derive(Clone, Copy, Debug)]
pub struct Place {
    pub template: usize,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub score: f32,
}

/// The grey-level standard deviation of every `w` x `h` window of `px`
/// (`lw` x `lh`), by top-left corner: sliding sums down the columns, then
/// differences of running sums along each row, in integers (exact); every
/// loop but the running sums is free of carried state, so it vectorises.
fn window_spread(px: &[u8], lw: usize, lh: usize, w: usize, h: usize) -> Vec<f32> {
    let (nx, ny) = (lw + 1 - w, lh + 1 - h);
    let n = (w * h) as f32;
    let mut out = vec![0.0f32; nx * ny];
    let (mut col, mut col_sq) = (vec![0u32; lw], vec![0u32; lw]);
    for row in px.chunks_exact(lw).take(h) {
        for ((c, q), &p) in col.iter_mut().zip(col_sq.iter_mut()).zip(row) {
            *c += p as u32;
            *q += p as u32 * p as u32;
        }
    }
    let (mut run, mut run_sq) = (vec![0u32; lw + 1], vec![0u32; lw + 1]);
    for y in 0..ny {
        if y > 0 {
            let (gone, come) = (
                &px[(y - 1) * lw..y * lw],
                &px[(y + h - 1) * lw..(y + h) * lw],
            );
            for (((c, q), &g), &k) in col.iter_mut().zip(col_sq.iter_mut()).zip(gone).zip(come) {
                let (g, k) = (g as u32, k as u32);
                *c = *c + k - g;
                *q = *q + k * k - g * g;
            }
        }
        for x in 0..lw {
            // Wrapping: a whole row's sum of squares may pass 2^32, but
            // the window's difference of two (what is used) never does.
            run[x + 1] = run[x].wrapping_add(col[x]);
            run_sq[x + 1] = run_sq[x].wrapping_add(col_sq[x]);
        }
        let row = &mut out[y * nx..(y + 1) * nx];
        for (((o, (&s0, &s1)), &q0), &q1) in row
            .iter_mut()
            .zip(run.iter().zip(&run[w..]))
            .zip(&run_sq)
            .zip(&run_sq[w..])
        {
            let mean = s1.wrapping_sub(s0) as f32 / n;
            *o = (q1.wrapping_sub(q0) as f32 / n - mean * mean)
                .max(0.0)
                .sqrt();
        }
    }
    out
}

/// The best places for `templates` in `pyramid` (the frame's keypoint
/// pyramid, reused: its levels are the scales searched), at most
/// [`PLACES_PER_TEMPLATE`] per template, best first, one per spot. Places are in the pixels of the
/// pyramid's level 0, which has `up` pixels per pixel of the 1280-wide frame.
pub fn search(pyramid: &Pyramid, up: f32, templates: &[(usize, &SmallTemplate)]) -> Vec<Place> {
    let mut places: Vec<Place> = Vec::new();
    if templates.is_empty() {
        return places;
    }
    let pad = pyramid.pad as f32;
    for (level, &f) in pyramid.levels.iter().zip(&pyramid.scales) {
        // Level 0 pixels per coarse template pixel: the logo's width there.
        let width = COARSE_WIDTH as f32 * f;
        if !(MIN_WIDTH..=MAX_WIDTH).contains(&(width / up)) {
            continue;
        }
        let (lw, lh) = (level.w, level.h);
        let px: Vec<f32> = level.px.iter().map(|&p| p as f32).collect();
        // Window spreads by template size: references of one shape share.
        let mut spreads: Vec<((usize, usize), Vec<f32>)> = Vec::new();
        for &(index, t) in templates {
            if lw < t.w + 2 || lh < t.h + 2 {
                continue;
            }
            let (nx, ny) = (lw - t.w + 1, lh - t.h + 1);
            if !spreads.iter().any(|(size, _)| *size == (t.w, t.h)) {
                spreads.push(((t.w, t.h), window_spread(&level.px, lw, lh, t.w, t.h)));
            }
            let Some((_, spread)) = spreads.iter().find(|(size, _)| *size == (t.w, t.h)) else {
                continue;
            };
            let mut map = vec![0.0f32; nx * ny];
            let mut cross = vec![0.0f32; nx];
            for y in 0..ny {
                cross.iter_mut().for_each(|a| *a = 0.0);
                // Row by row over the positions, sample by sample: the
                // inner loop runs along a row and vectorises. The weights
                // sum to zero, so the window's mean drops out.
                for &(dy, dx, weight) in &t.samples {
                    let row = &px[(y + dy) * lw + dx..][..nx];
                    for (c, &p) in cross.iter_mut().zip(row) {
                        *c += weight * p;
                    }
                }
                let out = &mut map[y * nx..(y + 1) * nx];
                for ((o, &c), &sd) in out.iter_mut().zip(&cross).zip(&spread[y * nx..]) {
                    let z = (c / (t.norm * sd.max(FLAT))).abs();
                    *o = if sd >= FLAT { z } else { 0.0 };
                }
            }
            // Local maxima over 3x3 that clear the bar: the least score
            // that could still be kept (the template's worst kept place,
            // once it has its share), so most positions stop at one test.
            let bar = |places: &[Place]| {
                let mine = places.iter().filter(|p| p.template == index);
                match (
                    mine.clone().count() >= PLACES_PER_TEMPLATE,
                    mine.clone().next_back(),
                ) {
                    (true, Some(worst)) => worst.score.max(COARSE_MIN),
                    _ => COARSE_MIN,
                }
            };
            let mut least = bar(&places);
            for y in 0..ny {
                for x in 0..nx {
                    let v = map[y * nx + x];
                    if v <= least {
                        continue;
                    }
                    let peak = (y.saturating_sub(1)..(y + 2).min(ny)).all(|v2| {
                        (x.saturating_sub(1)..(x + 2).min(nx)).all(|u| map[v2 * nx + u] <= v)
                    });
                    if peak {
                        keep(
                            &mut places,
                            Place {
                                template: index,
                                x: (x as f32 - pad) * f,
                                y: (y as f32 - pad) * f,
                                width,
                                score: v,
                            },
                        );
                        least = bar(&places);
                    }
                }
            }
        }
    }
    places
}

/// Keeps each template's best [`PLACES_PER_TEMPLATE`] places, one per
/// spot: a place overlapping a better one of the same template is dropped.
fn keep(places: &mut Vec<Place>, place: Place) {
    let overlaps = |a: &Place, b: &Place| {
        a.template == b.template
            && (a.x + a.width / 2.0 - b.x - b.width / 2.0).abs() < a.width.max(b.width) / 2.0
            && (a.y - b.y).abs() < a.width.max(b.width) / 4.0
    };
    if places
        .iter()
        .any(|p| overlaps(p, &place) && p.score >= place.score)
    {
        return;
    }
    places.retain(|p| !overlaps(p, &place));
    let mine = places
        .iter()
        .filter(|p| p.template == place.template)
        .count();
    // Sorted best first, so the template's last is its worst.
    let worst = places.iter().rposition(|p| p.template == place.template);
    if let (true, Some(worst)) = (mine >= PLACES_PER_TEMPLATE, worst) {
        if places[worst].score >= place.score {
            return;
        }
        places.remove(worst);
    }
    let at = places.partition_point(|p| p.score >= place.score);
    places.insert(at, place);
}

/// The pose (reference pixels to `frame` pixels) at `place`, refined with
/// the larger template over nearby positions and scales; `None` when the
/// refined correlation falls short.
pub fn refine(frame: &Gray, template: &SmallTemplate, place: &Place) -> Option<(Homography, f32)> {
    let coarse_px = place.width / template.w as f32;
    let (cx, cy) = (
        place.x + place.width / 2.0,
        place.y + place.width * template.h as f32 / template.w as f32 / 2.0,
    );
    // The pyramid's levels are 1.25 apart: a logo between two is within 12%
    // of one. Every position within a coarse pixel at three widths, then
    // the best one's neighbours at widths between: a 45 px logo 5% too wide
    // is a pixel off at its ends, which the cell comparison would hold
    // against it.
    let mut best: Option<Fit> = None;
    for m in [0.9f32, 1.0, 1.1] {
        let width = place.width * m;
        let r = ((coarse_px / (width / template.fine_w as f32)).ceil() as usize).clamp(1, 12);
        best = better(best, fit_around(frame, template, (cx, cy), width, r));
    }
    let first = best?;
    for m in [0.967f32, 1.033] {
        best = better(
            best,
            fit_around(frame, template, first.centre, first.width * m, 1),
        );
    }
    let fit = best?;
    if fit.z < FINE_MIN {
        return None;
    }
    // Reference pixels to frame pixels (pixel centres at whole numbers): the
    // fine template spans the reference.
    let (fw, fh) = (template.fine_w as f32, template.fine_h as f32);
    let step = fit.width / fw;
    let (kx, ky) = (
        fit.width / template.ref_w as f32,
        step * fh / template.ref_h as f32,
    );
    let (x, y) = (
        fit.centre.0 - fit.width / 2.0 - 0.5 + 0.5 * kx,
        fit.centre.1 - step * fh / 2.0 - 0.5 + 0.5 * ky,
    );
    Some((
        Homography([
            kx as f64, 0.0, x as f64, 0.0, ky as f64, y as f64, 0.0, 0.0, 1.0,
        ]),
        fit.z,
    ))
}

/// A fine template's best fit: its |ZNCC|, centre and width (frame pixels).
#[derive(Clone, Copy)]
struct Fit {
    z: f32,
    centre: (f32, f32),
    width: f32,
}

fn better(a: Option<Fit>, b: Option<Fit>) -> Option<Fit> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.z > a.z { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The fine template `width` pixels wide, at every position within `r` of
/// its pixels around `centre`: the best fit, if any window has texture.
fn fit_around(
    frame: &Gray,
    template: &SmallTemplate,
    centre: (f32, f32),
    width: f32,
    r: usize,
) -> Option<Fit> {
    let (fw, fh) = (template.fine_w, template.fine_h);
    let step = width / fw as f32;
    let (pw, ph) = (fw + 2 * r, fh + 2 * r);
    // Left and top edges of the patch (pixel centres at whole numbers).
    let x0 = centre.0 - width / 2.0 - r as f32 * step;
    let y0 = centre.1 - step * fh as f32 / 2.0 - r as f32 * step;
    let mut patch = Vec::with_capacity(pw * ph);
    for v in 0..ph {
        for u in 0..pw {
            let (x, y) = (
                x0 + (u as f32 + 0.5) * step - 0.5,
                y0 + (v as f32 + 0.5) * step - 0.5,
            );
            // Part of the logo outside the frame: not a small logo's place.
            patch.push(frame.sample(x, y)?);
        }
    }
    let n = (fw * fh) as f32;
    let mut best: Option<Fit> = None;
    for oy in 0..=2 * r {
        for ox in 0..=2 * r {
            let (mut a, mut sum, mut squares) = (0.0f32, 0.0f32, 0.0f32);
            for y in 0..fh {
                let row = &patch[(oy + y) * pw + ox..][..fw];
                let t = &template.fine[y * fw..(y + 1) * fw];
                for (p, t) in row.iter().zip(t) {
                    a += p * t;
                    sum += p;
                    squares += p * p;
                }
            }
            let sd = (squares / n - (sum / n).powi(2)).max(0.0).sqrt();
            if sd < FLAT {
                continue;
            }
            let z = (a / (template.fine_norm * sd * n.sqrt())).abs();
            let fit = Fit {
                z,
                centre: (
                    centre.0 + (ox as f32 - r as f32) * step,
                    centre.1 + (oy as f32 - r as f32) * step,
                ),
                width,
            };
            best = better(best, Some(fit));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dark "logo" on white, `w` wide: an L, a disc and a slanted bar,
    /// nothing that repeats.
    fn logo(w: usize) -> Gray {
        let h = w / 2;
        let mut g = Gray::new(w, h);
        g.px.iter_mut().for_each(|p| *p = 250);
        let (fw, fh) = (w as f32, h as f32);
        for y in 0..h {
            for x in 0..w {
                let (u, v) = (x as f32 / fw, y as f32 / fh);
                let l = (u < 0.12 && v < 0.9) || (u < 0.35 && (0.75..0.9).contains(&v));
                let disc = (u - 0.55).powi(2) * 4.0 + (v - 0.3).powi(2) < 0.02;
                let slant = (u - 0.75 - 0.2 * v).abs() < 0.05 && v > 0.1;
                if l || disc || slant {
                    g.px[y * w + x] = 20;
                }
            }
        }
        g
    }

    fn paste(frame: &mut Gray, img: &Gray, x0: usize, y0: usize, invert: bool) {
        for y in 0..img.h {
            for x in 0..img.w {
                let p = img.px[y * img.w + x];
                frame.px[(y0 + y) * frame.w + x0 + x] = if invert { 255 - p } else { p };
            }
        }
    }

    fn pyramid(frame: &Gray) -> Pyramid {
        Pyramid::build(frame, &crate::orb::OrbParams::default())
    }

    fn noisy_frame() -> Gray {
        let mut g = Gray::new(640, 360);
        let mut s = 12345u32;
        for p in g.px.iter_mut() {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *p = 100 + ((s >> 16) % 40) as u8;
        }
        g
    }

    #[test]
    fn a_small_logo_is_found_where_it_is_in_either_polarity() {
        let reference = logo(300);
        let template = SmallTemplate::new(&reference).expect("a textured reference");
        for invert in [false, true] {
            let mut frame = noisy_frame();
            paste(&mut frame, &logo(44), 400, 200, invert);
            let places = search(&pyramid(&frame), 1.0, &[(0, &template)]);
            let best = places.first().expect("a place");
            assert!(
                (best.x + best.width / 2.0 - 422.0).abs() < 6.0 && (best.y - 200.0).abs() < 6.0,
                "{best:?}"
            );
            let (h, z) = refine(&frame, &template, best).expect("refined");
            assert!(z > 0.8, "{z}");
            let (x, y) = h.apply(0.0, 0.0).expect("affine");
            let (x1, _) = h.apply(300.0, 0.0).expect("affine");
            assert!(
                (x - 400.0).abs() < 2.5 && (y - 200.0).abs() < 2.5,
                "{x} {y}"
            );
            assert!((x1 - x - 44.0).abs() < 3.0, "{}", x1 - x);
        }
    }

    #[test]
    fn noise_alone_gives_no_refined_place() {
        let template = SmallTemplate::new(&logo(300)).expect("a textured reference");
        let frame = noisy_frame();
        let places = search(&pyramid(&frame), 1.0, &[(0, &template)]);
        assert!(places
            .iter()
            .all(|p| refine(&frame, &template, p).is_none()));
    }

    #[test]
    fn a_flat_reference_has_no_template() {
        let mut flat = Gray::new(200, 100);
        flat.px.iter_mut().for_each(|p| *p = 90);
        assert!(SmallTemplate::new(&flat).is_none());
    }
}
