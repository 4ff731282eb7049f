//! The discriminating step after geometry: the frame is warped back onto the
//! reference and the two are compared cell by cell with zero-mean normalised
//! cross-correlation (ZNCC), which ignores brightness and contrast changes,
//! and, with one sign chosen for the whole logo, its polarity.
//!
//! Each textured cell of the reference is *good* (the frame shows the same
//! pattern there), *bad* (the frame shows a different pattern: texture that
//! disagrees) or *missing* (the frame is flat there, or outside the picture:
//! an occluder or the frame's edge). A look-alike logo — one letter changed —
//! passes the keypoint and homography checks but leaves bad cells where it
//! differs; a hand or a mug over part of the logo leaves missing cells, which
//! cost less. That asymmetry is what lets the detector both tolerate partial
//! occlusion and reject look-alikes.

use crate::geometry::Homography;
use crate::gray::Gray;
use crate::orb::Pyramid;

/// The reference is compared at this width (pixels) in cells of `CELL`.
pub const TEMPLATE_WIDTH: usize = 128;
const CELL: usize = 16;
/// A reference cell with less grey-level spread than this carries no pattern.
const TEXTURE_MIN: f32 = 8.0;
const GOOD_ZNCC: f32 = 0.55;
const BAD_ZNCC: f32 = 0.3;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Verdict {
    pub good: usize,
    pub bad: usize,
    pub missing: usize,
    /// ZNCC of the whole visible template.
    pub global: f32,
    /// In [0, 1]: (good - 4 x bad) / (good + bad + missing / 2), and 0 when
    /// the logo as a whole does not correlate.
    pub score: f32,
}

#[derive(Default, Clone, Copy)]
struct Moments {
    n: f32,
    st: f32,
    sw: f32,
    stt: f32,
    sww: f32,
    stw: f32,
}

impl Moments {
    fn add(&mut self, t: f32, w: f32) {
        self.n += 1.0;
        self.st += t;
        self.sw += w;
        self.stt += t * t;
        self.sww += w * w;
        self.stw += t * w;
    }
    fn std_t(&self) -> f32 {
        (self.stt / self.n - (self.st / self.n).powi(2))
            .max(0.0)
            .sqrt()
    }
    fn std_w(&self) -> f32 {
        (self.sww / self.n - (self.sw / self.n).powi(2))
            .max(0.0)
            .sqrt()
    }
    fn zncc(&self) -> f32 {
        let cov = self.stw / self.n - (self.st / self.n) * (self.sw / self.n);
        let d = self.std_t() * self.std_w();
        if d < 1e-3 {
            0.0
        } else {
            cov / d
        }
    }
}

impl Verdict {
    /// The score when nothing else places the logo (the whole-logo search
    /// for small logos, [`crate::small`]): a missing cell weighs in full,
    /// not half, since no keypoint pose vouches for the logo being there
    /// under an occluder. A frame half flat and half edges is not a logo.
    pub fn score_alone(&self) -> f32 {
        let weight = (self.good + self.bad + self.missing) as f32;
        if weight == 0.0 || self.global <= 0.3 {
            return 0.0;
        }
        ((self.good as f32 - 4.0 * self.bad as f32) / weight).clamp(0.0, 1.0)
    }
}

/// Compares `reference` (level-0 pixels of the reference image) with what
/// `h` maps it onto in `frame`.
pub fn verify(frame: &Pyramid, reference: &Gray, h: &Homography, logo_width: f64) -> Verdict {
    let tw = TEMPLATE_WIDTH;
    let th = ((tw as f64 * reference.h as f64 / reference.w.max(1) as f64).round() as usize)
        .clamp(CELL, 4 * tw);
    // Sample the frame at the coarsest level that still has the logo at the
    // template's width or more: no aliasing, no needless detail.
    let mut level = 0;
    for (l, s) in frame.scales.iter().enumerate() {
        if logo_width / (*s as f64) >= tw as f64 {
            level = l;
        }
    }
    let img = &frame.levels[level];
    let s = frame.scales[level] as f64;
    let (kx, ky) = (
        reference.w as f64 / tw as f64,
        reference.h as f64 / th as f64,
    );
    let mut warped = Gray::new(tw, th);
    let mut visible = vec![false; tw * th];
    for v in 0..th {
        for u in 0..tw {
            let (rx, ry) = ((u as f64 + 0.5) * kx - 0.5, (v as f64 + 0.5) * ky - 0.5);
            if let Some((x, y)) = h.apply(rx, ry) {
                if let Some(p) = img.sample((x / s) as f32, (y / s) as f32) {
                    warped.px[v * tw + u] = (p + 0.5) as u8;
                    visible[v * tw + u] = true;
                }
            }
        }
    }
    // A small logo is upsampled onto the template: blur the template to the
    // same softness so fine strokes are not held against it.
    let soften = (tw as f64 / logo_width.max(1.0)).max(1.0) as f32;
    let mut template = reference.resize(tw, th).blur(0.8 * soften);
    let warped = warped.blur(0.8);

    let moments = |template: &Gray| {
        let mut all = Moments::default();
        for ((t, w), seen) in template.px.iter().zip(&warped.px).zip(&visible) {
            if *seen {
                all.add(*t as f32, *w as f32);
            }
        }
        all
    };
    let mut all = moments(&template);
    if all.n < 16.0 {
        return Verdict::default();
    }
    // The logo may be printed in either polarity (white on a dark slide, the
    // reference dark on white): one sign for the whole logo, taken from the
    // whole, then every cell is judged in that polarity. Cells may not choose
    // their own sign, or a look-alike's changed letter could pass as negative.
    if all.zncc() < 0.0 {
        template.px.iter_mut().for_each(|t| *t = 255 - *t);
        all = moments(&template);
    }
    let gain = (all.std_w() / all.std_t().max(1.0)).max(0.05);
    let mut verdict = Verdict {
        global: all.zncc(),
        ..Default::default()
    };
    let (cols, rows) = (tw / CELL, th.div_ceil(CELL));
    for cy in 0..rows {
        for cx in 0..cols {
            let (y0, y1) = (cy * CELL, ((cy + 1) * CELL).min(th));
            if y1 - y0 < CELL / 2 {
                continue;
            }
            // `m` over the visible pixels; `whole` says whether the reference
            // is textured here at all.
            let mut m = Moments::default();
            let mut whole = Moments::default();
            let mut hidden = 0;
            for y in y0..y1 {
                for x in cx * CELL..(cx + 1) * CELL {
                    let i = y * tw + x;
                    whole.add(template.px[i] as f32, 0.0);
                    if visible[i] {
                        m.add(template.px[i] as f32, warped.px[i] as f32);
                    } else {
                        hidden += 1;
                    }
                }
            }
            if whole.std_t() < TEXTURE_MIN {
                continue;
            }
            if hidden * 4 > (y1 - y0) * CELL || m.n < 8.0 {
                verdict.missing += 1;
                continue;
            }
            let z = m.zncc();
            let textured_in_frame = m.std_w() / gain >= 0.35 * m.std_t().max(TEXTURE_MIN);
            if z >= GOOD_ZNCC {
                verdict.good += 1;
            } else if z < BAD_ZNCC && textured_in_frame {
                verdict.bad += 1;
            } else {
                verdict.missing += 1;
            }
        }
    }
    // Evidence against weighs four times evidence for; a missing cell counts
    // half against (it is neither).
    let weight = verdict.good as f32 + verdict.bad as f32 + 0.5 * verdict.missing as f32;
    if weight > 0.0 && verdict.global > 0.3 {
        verdict.score = ((verdict.good as f32 - 4.0 * verdict.bad as f32) / weight).clamp(0.0, 1.0);
    }
    verdict
}
