//! ORB features: FAST-9 corners ranked by the Harris measure over an image
//! pyramid, oriented by the intensity centroid, described by 256-bit steered
//! BRIEF. Rublee et al., "ORB: an efficient alternative to SIFT or SURF"
//! (ICCV 2011); written for this detector (no maintained Rust ORB builds on
//! stable), with the sampling pattern drawn from a fixed seed so results are
//! the same on every machine.

use crate::gray::Gray;

/// Keypoints closer than this to a level's edge are skipped: the orientation
/// disk (radius 15) and the rotated pattern (radius 13) must fit.
const BORDER: usize = 16;
const ORIENT_RADIUS: i32 = 15;
const PATTERN_RADIUS: f32 = 13.0;

#[derive(Clone, Copy, Debug)]
pub struct Keypoint {
    /// Position in the level-0 image's pixels.
    pub x: f32,
    pub y: f32,
    /// Pyramid level (scale = `scale_factor^level`).
    pub level: u8,
    pub angle: f32,
    pub response: f32,
}

pub type Descriptor = [u64; 4];

#[inline]
pub fn hamming(a: &Descriptor, b: &Descriptor) -> u32 {
    (a[0] ^ b[0]).count_ones()
        + (a[1] ^ b[1]).count_ones()
        + (a[2] ^ b[2]).count_ones()
        + (a[3] ^ b[3]).count_ones()
}

#[derive(Clone, Debug)]
pub struct OrbParams {
    pub scale_factor: f32,
    /// Levels stop when the shorter side would fall below this.
    pub min_side: usize,
    pub max_levels: usize,
    pub fast_threshold: i16,
    /// Keypoints kept over all levels, shared out by level area.
    pub max_keypoints: usize,
    /// Grid cell for spreading keypoints over the image (pixels of a level).
    pub cell: usize,
    /// Pixels of edge colour added around every level. A reference is a
    /// logo on its own canvas: without a margin, its small levels (the logo
    /// 40-100 px wide) would keep no keypoint at all, since the descriptor's
    /// patch must fit inside the level.
    pub pad: usize,
}

impl Default for OrbParams {
    fn default() -> Self {
        Self {
            scale_factor: 1.25,
            min_side: 40,
            max_levels: 16,
            fast_threshold: 14,
            max_keypoints: 3000,
            cell: 48,
            pad: 0,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Features {
    pub keypoints: Vec<Keypoint>,
    pub descriptors: Vec<Descriptor>,
}

/// A pyramid: level 0 is the image itself.
pub struct Pyramid {
    /// Each level with `pad` pixels of margin on every side.
    pub levels: Vec<Gray>,
    /// Level-0 pixels per level pixel, per level.
    pub scales: Vec<f32>,
    pub pad: usize,
}

impl Pyramid {
    pub fn build(image: &Gray, params: &OrbParams) -> Pyramid {
        let pad = params.pad;
        let mut plain = vec![image.clone()];
        let mut scales = vec![1.0f32];
        for l in 1..params.max_levels {
            let s = params.scale_factor.powi(l as i32);
            let (w, h) = (
                (image.w as f32 / s).round() as usize,
                (image.h as f32 / s).round() as usize,
            );
            if w.min(h) < params.min_side || w.min(h) + 2 * pad < 2 * BORDER + 8 {
                break;
            }
            // From the previous level: a small step, so bilinear barely aliases.
            let next = plain[l - 1].resize(w, h);
            plain.push(next);
            scales.push(image.w as f32 / w as f32);
        }
        let levels = if pad == 0 {
            plain
        } else {
            plain.iter().map(|g| g.padded(pad)).collect()
        };
        Pyramid {
            levels,
            scales,
            pad,
        }
    }
}

/// The 16 pixels of FAST's Bresenham circle of radius 3, clockwise from top.
const CIRCLE: [(i32, i32); 16] = [
    (0, -3),
    (1, -3),
    (2, -2),
    (3, -1),
    (3, 0),
    (3, 1),
    (2, 2),
    (1, 3),
    (0, 3),
    (-1, 3),
    (-2, 2),
    (-3, 1),
    (-3, 0),
    (-3, -1),
    (-2, -2),
    (-1, -3),
];

/// True when `mask` (16 bits, circular) has 9 consecutive set bits.
#[inline]
fn has_arc9(mask: u32) -> bool {
    let m = mask | (mask << 16);
    let mut run = m;
    for k in 1..9 {
        run &= m >> k;
    }
    run != 0
}

/// A FAST corner: position, score, and whether its centre is brighter than
/// its arc (a light corner on a dark ground).
#[derive(Clone, Copy)]
struct Corner {
    x: usize,
    y: usize,
    score: u32,
    light: bool,
}

/// FAST-9 corners of `img` with their scores (sum of the arc's contrast
/// beyond the threshold), after 3x3 non-maximum suppression.
fn fast9(img: &Gray, threshold: i16) -> Vec<Corner> {
    let (w, h) = (img.w, img.h);
    if w <= 2 * BORDER || h <= 2 * BORDER {
        return Vec::new();
    }
    let offsets: Vec<isize> = CIRCLE
        .iter()
        .map(|(dx, dy)| *dy as isize * w as isize + *dx as isize)
        .collect();
    let mut scores = vec![0u32; w * h];
    // Centres brighter than their arc (a dark arc), per pixel.
    let mut light = vec![false; w * h];
    let p = &img.px;
    let t = threshold;
    let tu = threshold.clamp(0, 255) as u8;
    let mut maybe = vec![0u8; w];
    for y in BORDER..h - BORDER {
        // Any 9-long arc holds two neighbouring compass pixels (0, 4, 8,
        // 12), so a corner has two compass pixels on one side of the
        // threshold. Tested for the whole row first, in saturating u8
        // arithmetic the compiler vectorises: most pixels stop here.
        let (up, row, down) = (
            &p[(y - 3) * w..(y - 2) * w],
            &p[y * w..(y + 1) * w],
            &p[(y + 3) * w..(y + 4) * w],
        );
        let range = BORDER..w - BORDER;
        for (((m, &c), (&n, &s)), (&e, &west)) in maybe[range.clone()]
            .iter_mut()
            .zip(&row[range.clone()])
            .zip(up[range.clone()].iter().zip(&down[range.clone()]))
            .zip(
                row[BORDER + 3..w - BORDER + 3]
                    .iter()
                    .zip(&row[BORDER - 3..w - BORDER - 3]),
            )
        {
            let bright = (n.saturating_sub(c) > tu) as u8
                + (s.saturating_sub(c) > tu) as u8
                + (e.saturating_sub(c) > tu) as u8
                + (west.saturating_sub(c) > tu) as u8;
            let dark = (c.saturating_sub(n) > tu) as u8
                + (c.saturating_sub(s) > tu) as u8
                + (c.saturating_sub(e) > tu) as u8
                + (c.saturating_sub(west) > tu) as u8;
            *m = (bright >= 2) as u8 | (dark >= 2) as u8;
        }
        for x in range {
            if maybe[x] == 0 {
                continue;
            }
            let i = y * w + x;
            let c = p[i] as i16;
            let at = |k: usize| p[(i as isize + offsets[k]) as usize] as i16;
            let (hi, lo) = (c + t, c - t);
            let (mut bright, mut dark) = (0u32, 0u32);
            let (mut sb, mut sd) = (0u32, 0u32);
            for k in 0..16 {
                let v = at(k);
                if v > hi {
                    bright |= 1 << k;
                    sb += (v - hi) as u32;
                } else if v < lo {
                    dark |= 1 << k;
                    sd += (lo - v) as u32;
                }
            }
            if has_arc9(bright) {
                scores[i] = sb + 1;
            } else if has_arc9(dark) {
                scores[i] = sd + 1;
                light[i] = true;
            }
        }
    }
    let mut corners = Vec::new();
    for y in BORDER..h - BORDER {
        for x in BORDER..w - BORDER {
            let i = y * w + x;
            let s = scores[i];
            if s == 0 {
                continue;
            }
            let neighbours = [
                i - w - 1,
                i - w,
                i - w + 1,
                i - 1,
                i + 1,
                i + w - 1,
                i + w,
                i + w + 1,
            ];
            // Ties go to the first in scan order.
            let beaten = neighbours
                .iter()
                .enumerate()
                .any(|(k, &j)| scores[j] > s || (scores[j] == s && k < 4));
            if !beaten {
                corners.push(Corner {
                    x,
                    y,
                    score: s,
                    light: light[i],
                });
            }
        }
    }
    corners
}

/// Harris corner measure over a 7x7 window (central differences).
fn harris(img: &Gray, x: usize, y: usize) -> f32 {
    let (mut a, mut b, mut c) = (0f32, 0f32, 0f32);
    for yy in y - 3..=y + 3 {
        for xx in x - 3..=x + 3 {
            let gx = img.at(xx + 1, yy) as f32 - img.at(xx - 1, yy) as f32;
            let gy = img.at(xx, yy + 1) as f32 - img.at(xx, yy - 1) as f32;
            a += gx * gx;
            b += gy * gy;
            c += gx * gy;
        }
    }
    a * b - c * c - 0.04 * (a + b) * (a + b)
}

/// Orientation by the intensity centroid of the disk around (x, y).
fn orientation(img: &Gray, x: usize, y: usize) -> f32 {
    let (mut m10, mut m01) = (0i64, 0i64);
    let r = ORIENT_RADIUS;
    for dy in -r..=r {
        let half = ((r * r - dy * dy) as f32).sqrt() as i32;
        let row = (y as i32 + dy) as usize * img.w;
        for dx in -half..=half {
            let v = img.px[row + (x as i32 + dx) as usize] as i64;
            m10 += dx as i64 * v;
            m01 += dy as i64 * v;
        }
    }
    (m01 as f32).atan2(m10 as f32)
}

/// 256 point pairs, Gaussian around the centre (sigma = patch/5, as BRIEF's
/// best-performing layout), clipped to the pattern radius.
fn pattern() -> &'static [[f32; 4]; 256] {
    static PATTERN: std::sync::OnceLock<[[f32; 4]; 256]> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut rng = crate::geometry::XorShift::new(0x0B5E_55ED_1234_5678);
        let mut gauss = || loop {
            // Box-Muller; reject points outside the radius.
            let (u, v) = (rng.unit().max(1e-9), rng.unit());
            let z = (-2.0 * (u as f32).ln()).sqrt() * (std::f32::consts::TAU * v as f32).cos();
            let value = z * 31.0 / 5.0;
            if value.abs() <= PATTERN_RADIUS / std::f32::consts::SQRT_2 {
                return value;
            }
        };
        let mut out = [[0f32; 4]; 256];
        for pair in out.iter_mut() {
            *pair = [gauss(), gauss(), gauss(), gauss()];
        }
        out
    })
}

/// Summed-area table with a zero first row and column: any box sum in four
/// lookups. BRIEF compares 5x5 box means (as OpenCV's ORB does) instead of
/// blurring every level: the same noise robustness for a fraction of the work.
pub struct Integral {
    w: usize,
    sums: Vec<u32>,
}

impl Integral {
    pub fn new(img: &Gray) -> Self {
        let w = img.w + 1;
        let mut sums = vec![0u32; w * (img.h + 1)];
        for y in 0..img.h {
            let mut row = 0u32;
            for x in 0..img.w {
                row += img.px[y * img.w + x] as u32;
                sums[(y + 1) * w + x + 1] = sums[y * w + x + 1] + row;
            }
        }
        Self { w, sums }
    }

    /// Sum of the 5x5 box centred on (x, y); the box must lie inside.
    #[inline]
    fn box5(&self, x: usize, y: usize) -> u32 {
        let (x0, y0, x1, y1) = (x - 2, y - 2, x + 3, y + 3);
        let s = &self.sums;
        s[y1 * self.w + x1] + s[y0 * self.w + x0] - s[y0 * self.w + x1] - s[y1 * self.w + x0]
    }
}

/// Steered BRIEF at `angle`. With `inverted`, the bits are those of the
/// negative image (each comparison reversed; ties stay 0 either way).
fn describe(smooth: &Integral, x: usize, y: usize, angle: f32, inverted: bool) -> Descriptor {
    let (s, c) = angle.sin_cos();
    let mut d = [0u64; 4];
    // Keypoints sit at least BORDER pixels inside the level, so every
    // sampled coordinate is positive and `+ 0.5` then truncation rounds it
    // (without a libm call per point).
    let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
    let at = |px: f32, py: f32| {
        let xx = (fx + c * px - s * py) as usize;
        let yy = (fy + s * px + c * py) as usize;
        smooth.box5(xx, yy)
    };
    for (k, p) in pattern().iter().enumerate() {
        let (a, b) = (at(p[0], p[1]), at(p[2], p[3]));
        if (!inverted && a < b) || (inverted && a > b) {
            d[k / 64] |= 1 << (k % 64);
        }
    }
    d
}

/// ORB features of `pyramid`, positions in level-0 pixels.
pub fn extract(pyramid: &Pyramid, params: &OrbParams) -> Features {
    let total_area: f32 = pyramid
        .levels
        .iter()
        .map(|l| (l.w * l.h) as f32)
        .sum::<f32>()
        .max(1.0);
    let mut features = Features::default();
    for (level, img) in pyramid.levels.iter().enumerate() {
        let budget =
            ((params.max_keypoints as f32) * (img.w * img.h) as f32 / total_area).ceil() as usize;
        // Harris only for the strongest FAST corners: it costs 49 gradients
        // each, and a cluttered frame has tens of thousands of corners.
        let mut fast = fast9(img, params.fast_threshold);
        if fast.len() > 4 * budget {
            fast.select_nth_unstable_by(4 * budget, |a, b| b.score.cmp(&a.score));
            fast.truncate(4 * budget);
        }
        let mut corners: Vec<(Corner, f32)> = fast
            .into_iter()
            .map(|c| (c, harris(img, c.x, c.y)))
            .collect();
        corners.sort_by(|a, b| b.1.total_cmp(&a.1));
        // Spread out: at most a fair share per grid cell, so one busy corner
        // of the frame cannot take the whole budget from a small logo.
        let (cols, rows) = (img.w.div_ceil(params.cell), img.h.div_ceil(params.cell));
        let cap = (2 * budget).div_ceil(cols * rows).max(3);
        let mut per_cell = vec![0usize; cols * rows];
        let smooth = Integral::new(img);
        let scale = pyramid.scales[level];
        let mut kept = 0;
        for (Corner { x, y, light, .. }, response) in corners {
            if kept >= budget {
                break;
            }
            let cell = (y / params.cell) * cols + x / params.cell;
            if per_cell[cell] >= cap {
                continue;
            }
            per_cell[cell] += 1;
            kept += 1;
            // Polarity-free by construction: a light corner is oriented and
            // described as the negative image would show it (a dark corner),
            // so a logo and its negative give the same angle and the same
            // bits. On the negative the intensity centroid points the other
            // way (the disk is symmetric), hence the half turn.
            let angle = if light {
                orientation(img, x, y) + std::f32::consts::PI
            } else {
                orientation(img, x, y)
            };
            let pad = pyramid.pad as f32;
            features.keypoints.push(Keypoint {
                x: (x as f32 - pad) * scale,
                y: (y as f32 - pad) * scale,
                level: level as u8,
                angle,
                response,
            });
            features
                .descriptors
                .push(describe(&smooth, x, y, angle, light));
        }
    }
    features
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkerboard(w: usize, h: usize, square: usize) -> Gray {
        let mut g = Gray::new(w, h);
        for y in 0..h {
            for x in 0..w {
                g.px[y * w + x] = if ((x / square) + (y / square)).is_multiple_of(2) {
                    30
                } else {
                    220
                };
            }
        }
        g
    }

    #[test]
    fn arc_detection_wraps_around() {
        assert!(has_arc9(0b1_1111_1111));
        assert!(has_arc9(0b1111_0000_0000_0001_1111 & 0xFFFF | 0xF000));
        assert!(!has_arc9(0b1111_1111));
        assert!(!has_arc9(0b0101_0101_0101_0101));
    }

    #[test]
    fn a_flat_image_has_no_keypoints() {
        let mut g = Gray::new(200, 200);
        g.px.iter_mut().for_each(|p| *p = 128);
        let f = extract(
            &Pyramid::build(&g, &OrbParams::default()),
            &OrbParams::default(),
        );
        assert!(f.keypoints.is_empty());
    }

    #[test]
    fn a_corner_is_found_where_it_is() {
        let mut g = Gray::new(120, 120);
        g.px.iter_mut().for_each(|p| *p = 40);
        for y in 60..120 {
            for x in 60..120 {
                g.px[y * 120 + x] = 220;
            }
        }
        let corners = fast9(&g, 20);
        assert!(
            corners
                .iter()
                .any(|c| c.x.abs_diff(60) <= 1 && c.y.abs_diff(60) <= 1 && c.light),
            "a light corner (brighter than its arc) at (60, 60)"
        );
    }

    #[test]
    fn descriptors_survive_rotation() {
        // The same textured patch rotated by 90 degrees: steered BRIEF should
        // give nearly the same descriptor at the matching point.
        let mut g = Gray::new(101, 101);
        let mut rng = crate::geometry::XorShift::new(7);
        for p in g.px.iter_mut() {
            *p = (rng.unit() * 255.0) as u8;
        }
        let g = g.blur(2.0);
        let mut r = Gray::new(101, 101);
        for y in 0..101 {
            for x in 0..101 {
                // r(x, y) = g(y, 100 - x): g turned 90 degrees clockwise.
                r.px[y * 101 + x] = g.at(y, 100 - x);
            }
        }
        let (a1, a2) = (orientation(&g, 50, 50), orientation(&r, 50, 50));
        let turn = (a2 - a1).rem_euclid(std::f32::consts::TAU);
        assert!((turn - std::f32::consts::FRAC_PI_2).abs() < 0.05, "{turn}");
        let (ig, ir) = (Integral::new(&g), Integral::new(&r));
        let (d1, d2) = (
            describe(&ig, 50, 50, a1, false),
            describe(&ir, 50, 50, a2, false),
        );
        assert!(hamming(&d1, &d2) < 40, "{}", hamming(&d1, &d2));
        let other = describe(&ig, 30, 70, a1, false);
        assert!(hamming(&d1, &other) > 80);
    }

    #[test]
    fn a_negative_image_has_the_same_features() {
        // A white logo on a dark slide must match the dark-on-white
        // reference: same keypoints, same angles, same descriptors.
        let mut g = Gray::new(160, 140);
        let mut rng = crate::geometry::XorShift::new(11);
        for p in g.px.iter_mut() {
            *p = if rng.unit() < 0.5 { 20 } else { 230 };
        }
        let g = g.resize(320, 280).blur(1.5);
        let negative = Gray {
            px: g.px.iter().map(|v| 255 - v).collect(),
            ..g.clone()
        };
        let p = OrbParams::default();
        let (a, b) = (
            extract(&Pyramid::build(&g, &p), &p),
            extract(&Pyramid::build(&negative, &p), &p),
        );
        assert!(a.keypoints.len() > 100, "{}", a.keypoints.len());
        let mut same = 0;
        for (ka, da) in a.keypoints.iter().zip(&a.descriptors) {
            let twin = b.keypoints.iter().zip(&b.descriptors).find(|(kb, _)| {
                kb.level == ka.level && (kb.x - ka.x).abs() < 0.5 && (kb.y - ka.y).abs() < 0.5
            });
            if let Some((kb, db)) = twin {
                let turn = (kb.angle - ka.angle).rem_euclid(std::f32::consts::TAU);
                if turn.min(std::f32::consts::TAU - turn) < 0.01 && hamming(da, db) <= 8 {
                    same += 1;
                }
            }
        }
        // Rounding in the pyramid may move a few corners by a grey level.
        assert!(
            same * 10 >= a.keypoints.len() * 9,
            "{same} of {} keypoints kept their angle and descriptor",
            a.keypoints.len()
        );
    }

    #[test]
    fn keypoints_spread_over_the_pyramid() {
        let g = checkerboard(400, 300, 10);
        let p = OrbParams::default();
        let pyr = Pyramid::build(&g, &p);
        assert!(pyr.levels.len() > 3);
        let f = extract(&pyr, &p);
        assert!(f.keypoints.len() > 50);
        assert!(f.keypoints.iter().any(|k| k.level > 0));
        assert!(f.keypoints.iter().all(|k| k.x < 400.0 && k.y < 300.0));
    }
}
