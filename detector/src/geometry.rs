//! Plane-to-plane geometry: homographies fitted by the normalised DLT, RANSAC
//! over putative matches, and the sanity checks that turn "a homography
//! exists" into "this could be the logo seen by a camera".

/// A small, seeded generator: the detector is deterministic, so a frame gives
/// the same answer on every run and machine.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Row-major 3x3, mapping reference pixels to frame pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    pub fn apply(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        if w.abs() < 1e-9 {
            return None;
        }
        Some((
            (h[0] * x + h[1] * y + h[2]) / w,
            (h[3] * x + h[4] * y + h[5]) / w,
        ))
    }
}

/// Solves `a x = b` (n x n) by Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..N {
            let f = a[row][col] / a[col][col];
            if f != 0.0 {
                let pivot_row = a[col];
                for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Translation and scale that move points to mean 0, mean distance sqrt(2)
/// (Hartley's normalisation: the DLT is badly conditioned in raw pixels).
fn normaliser(points: impl Iterator<Item = (f64, f64)> + Clone) -> (f64, f64, f64) {
    let n = points.clone().count().max(1) as f64;
    let (sx, sy) = points
        .clone()
        .fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
    let (cx, cy) = (sx / n, sy / n);
    let d = points
        .map(|p| ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt())
        .sum::<f64>()
        / n;
    (
        cx,
        cy,
        if d > 1e-9 {
            std::f64::consts::SQRT_2 / d
        } else {
            1.0
        },
    )
}

/// A point and where it maps to.
pub type PointPair = ((f64, f64), (f64, f64));

/// Least-squares homography (h33 = 1) through `pairs` of (from, to); at
/// least 4 pairs.
pub fn fit(pairs: &[PointPair]) -> Option<Homography> {
    if pairs.len() < 4 {
        return None;
    }
    let (fx, fy, fs) = normaliser(pairs.iter().map(|p| p.0));
    let (tx, ty, ts) = normaliser(pairs.iter().map(|p| p.1));
    let mut ata = [[0.0; 8]; 8];
    let mut atb = [0.0; 8];
    for &((x, y), (u, v)) in pairs {
        let (x, y) = ((x - fx) * fs, (y - fy) * fs);
        let (u, v) = ((u - tx) * ts, (v - ty) * ts);
        let rows = [
            ([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u),
            ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v),
        ];
        for (r, rhs) in rows {
            for i in 0..8 {
                for j in 0..8 {
                    ata[i][j] += r[i] * r[j];
                }
                atb[i] += r[i] * rhs;
            }
        }
    }
    let h = solve(ata, atb)?;
    // Undo the normalisations: H = T_to^-1 * Hn * T_from.
    let hn = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0];
    let t_from = [fs, 0.0, -fs * fx, 0.0, fs, -fs * fy, 0.0, 0.0, 1.0];
    let t_to_inv = [1.0 / ts, 0.0, tx, 0.0, 1.0 / ts, ty, 0.0, 0.0, 1.0];
    let m = mul(&mul(&t_to_inv, &hn), &t_from);
    if m[8].abs() < 1e-12 {
        return None;
    }
    let out: Vec<f64> = m.iter().map(|v| v / m[8]).collect();
    let mut arr = [0.0; 9];
    arr.copy_from_slice(&out);
    Some(Homography(arr))
}

fn mul(a: &[f64; 9], b: &[f64; 9]) -> [f64; 9] {
    let mut c = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            c[i * 3 + j] = (0..3).map(|k| a[i * 3 + k] * b[k * 3 + j]).sum();
        }
    }
    c
}

/// One putative match: reference point, frame point, and the tolerance (in
/// frame pixels) its keypoint's scale allows; with both keypoints' scale and
/// orientation, which alone predict a similarity (see [`hough_groups`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Match {
    pub from: (f64, f64),
    pub to: (f64, f64),
    pub tolerance: f64,
    /// Frame keypoint scale over reference keypoint scale.
    pub scale: f64,
    /// Frame keypoint angle minus reference keypoint angle (radians).
    pub rotation: f64,
}

/// Groups matches that agree on the pose they predict, Lowe-style: each match
/// alone gives a rotation, a scale and so where the reference's centre lands;
/// matches voting for the same pose bin are likely the same object. RANSAC
/// then runs inside a group, where most matches are right, instead of over
/// all matches, where in a busy frame fewer than one in ten is. Returns the
/// groups with at least `min_size` matches, largest first.
pub fn hough_groups(
    matches: &[Match],
    centre: (f64, f64),
    reference_side: f64,
    min_size: usize,
) -> Vec<Vec<usize>> {
    use std::collections::HashMap;
    const ANGLE_BINS: f64 = 12.0;
    let mut bins: HashMap<(i32, i32, i32, i32), Vec<usize>> = HashMap::new();
    for (i, m) in matches.iter().enumerate() {
        if m.scale.is_nan() || m.scale <= 0.0 {
            continue;
        }
        let (sn, cs) = m.rotation.sin_cos();
        let (dx, dy) = (centre.0 - m.from.0, centre.1 - m.from.1);
        let cx = m.to.0 + m.scale * (cs * dx - sn * dy);
        let cy = m.to.1 + m.scale * (sn * dx + cs * dy);
        let a = m.rotation.rem_euclid(std::f64::consts::TAU) / std::f64::consts::TAU * ANGLE_BINS;
        let s = m.scale.ln() / 1.25f64.ln();
        let cell = (m.scale * reference_side * 0.25).max(4.0);
        let (x, y) = (cx / cell, cy / cell);
        // Vote into the two nearest bins per dimension: poses near a bin edge
        // still meet.
        let near = |v: f64| {
            let f = v.floor();
            let other = if v - f < 0.5 { f - 1.0 } else { f + 1.0 };
            [f as i32, other as i32]
        };
        for ab in near(a) {
            let ab = ab.rem_euclid(ANGLE_BINS as i32);
            for sb in near(s) {
                for xb in near(x) {
                    for yb in near(y) {
                        bins.entry((ab, sb, xb, yb)).or_default().push(i);
                    }
                }
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = bins.into_values().filter(|g| g.len() >= min_size).collect();
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    groups.dedup();
    groups
}

/// RANSAC: the homography with the most matches within their tolerance,
/// refitted on those inliers, drawing samples from `candidates` only (a
/// pose-vote group) and counting inliers among all `matches`. Deterministic
/// for a given seed.
pub fn ransac_within(
    matches: &[Match],
    candidates: &[usize],
    iterations: usize,
    seed: u64,
) -> Option<(Homography, Vec<usize>)> {
    if candidates.len() < 4 {
        return None;
    }
    let mut rng = XorShift::new(seed);
    let mut best: Option<(Homography, Vec<usize>)> = None;
    let inliers_of = |h: &Homography| -> Vec<usize> {
        matches
            .iter()
            .enumerate()
            .filter(|(_, m)| match h.apply(m.from.0, m.from.1) {
                Some((x, y)) => (x - m.to.0).powi(2) + (y - m.to.1).powi(2) <= m.tolerance.powi(2),
                None => false,
            })
            .map(|(i, _)| i)
            .collect()
    };
    let mut needed = iterations;
    let mut i = 0;
    while i < needed.min(iterations) {
        i += 1;
        let mut idx = [usize::MAX; 4];
        for k in 0..4 {
            idx[k] = loop {
                let c = candidates[rng.below(candidates.len())];
                if !idx[..k].contains(&c) {
                    break c;
                }
            };
        }
        let sample: Vec<_> = idx
            .iter()
            .map(|&k| (matches[k].from, matches[k].to))
            .collect();
        let Some(h) = fit(&sample) else { continue };
        let inliers = inliers_of(&h);
        if inliers.len() > best.as_ref().map_or(3, |b| b.1.len()) {
            // Adaptive stop: iterations for 99.5% confidence at this ratio.
            let inside = inliers.iter().filter(|i| candidates.contains(i)).count();
            let ratio = inside as f64 / candidates.len() as f64;
            let p_good = ratio.powi(4).max(1e-9);
            if p_good < 1.0 {
                needed = ((0.005f64).ln() / (1.0 - p_good).ln()).ceil() as usize;
            } else {
                needed = 0;
            }
            best = Some((h, inliers));
        }
    }
    // Refit on the inliers, twice: the refined model may gather a few more.
    let (mut h, mut inliers) = best?;
    for _ in 0..2 {
        let pairs: Vec<_> = inliers
            .iter()
            .map(|&k| (matches[k].from, matches[k].to))
            .collect();
        let Some(refined) = fit(&pairs) else { break };
        let more = inliers_of(&refined);
        if more.len() < inliers.len() {
            break;
        }
        h = refined;
        inliers = more;
    }
    Some((h, inliers))
}

/// The reference's outline (w x h) in the frame, if it looks like a real view
/// of a flat logo: convex, not mirrored, not wildly stretched, and not tiny.
pub fn plausible_quad(h: &Homography, w: f64, hgt: f64, min_side: f64) -> Option<[(f64, f64); 4]> {
    let corners = [(0.0, 0.0), (w, 0.0), (w, hgt), (0.0, hgt)];
    let mut q = [(0.0, 0.0); 4];
    for (k, c) in corners.iter().enumerate() {
        q[k] = h.apply(c.0, c.1)?;
    }
    // Same turning direction at every corner, and the reference's own
    // (clockwise on screen): a mirrored or folded outline is not a view.
    for k in 0..4 {
        let (a, b, c) = (q[k], q[(k + 1) % 4], q[(k + 2) % 4]);
        let cross = (b.0 - a.0) * (c.1 - b.1) - (b.1 - a.1) * (c.0 - b.0);
        if cross <= 0.0 {
            return None;
        }
    }
    let len = |a: (f64, f64), b: (f64, f64)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let (top, right, bottom, left) = (
        len(q[0], q[1]),
        len(q[1], q[2]),
        len(q[2], q[3]),
        len(q[3], q[0]),
    );
    if top.min(bottom).min(left).min(right) < min_side {
        return None;
    }
    // Opposite sides within 2x of each other (strong perspective at most),
    // and the aspect ratio within 2.5x of the reference's.
    if top.max(bottom) > 2.0 * top.min(bottom) || left.max(right) > 2.0 * left.min(right) {
        return None;
    }
    let aspect = ((top + bottom) / (left + right)) / (w / hgt);
    if !(0.4..=2.5).contains(&aspect) {
        return None;
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotate_scale(angle: f64, s: f64, tx: f64, ty: f64) -> Homography {
        let (sn, c) = angle.sin_cos();
        Homography([s * c, -s * sn, tx, s * sn, s * c, ty, 0.0, 0.0, 1.0])
    }

    #[test]
    fn fit_recovers_a_perspective_map() {
        let truth = Homography([0.9, 0.1, 40.0, -0.05, 1.1, 20.0, 0.0004, -0.0002, 1.0]);
        let pairs: Vec<_> = [
            (0.0, 0.0),
            (300.0, 0.0),
            (300.0, 200.0),
            (0.0, 200.0),
            (150.0, 90.0),
        ]
        .iter()
        .map(|&p| (p, truth.apply(p.0, p.1).unwrap()))
        .collect();
        let h = fit(&pairs).unwrap();
        for (from, to) in pairs {
            let got = h.apply(from.0, from.1).unwrap();
            assert!((got.0 - to.0).abs() < 1e-6 && (got.1 - to.1).abs() < 1e-6);
        }
    }

    #[test]
    fn ransac_ignores_outliers() {
        let truth = rotate_scale(0.3, 0.5, 400.0, 100.0);
        let mut rng = XorShift::new(3);
        let mut matches = Vec::new();
        for _ in 0..40 {
            let p = (rng.unit() * 300.0, rng.unit() * 200.0);
            matches.push(Match {
                from: p,
                to: truth.apply(p.0, p.1).unwrap(),
                tolerance: 2.0,
                ..Match::default()
            });
        }
        for _ in 0..60 {
            let p = (rng.unit() * 300.0, rng.unit() * 200.0);
            matches.push(Match {
                from: p,
                to: (rng.unit() * 1280.0, rng.unit() * 720.0),
                tolerance: 2.0,
                ..Match::default()
            });
        }
        let all: Vec<usize> = (0..matches.len()).collect();
        let (h, inliers) = ransac_within(&matches, &all, 2000, 9).unwrap();
        assert!(
            inliers.len() >= 40 && inliers.len() <= 42,
            "{}",
            inliers.len()
        );
        let got = h.apply(100.0, 100.0).unwrap();
        let want = truth.apply(100.0, 100.0).unwrap();
        assert!((got.0 - want.0).abs() < 0.5 && (got.1 - want.1).abs() < 0.5);
    }

    #[test]
    fn outlines_must_look_like_a_view() {
        assert!(
            plausible_quad(&rotate_scale(0.3, 0.5, 400.0, 100.0), 300.0, 200.0, 10.0).is_some()
        );
        // Mirrored.
        let mirror = Homography([-1.0, 0.0, 500.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        assert!(plausible_quad(&mirror, 300.0, 200.0, 10.0).is_none());
        // Squashed flat.
        let squash = Homography([1.0, 0.0, 0.0, 0.0, 0.05, 0.0, 0.0, 0.0, 1.0]);
        assert!(plausible_quad(&squash, 300.0, 200.0, 5.0).is_none());
        // Too small.
        assert!(plausible_quad(&rotate_scale(0.0, 0.02, 0.0, 0.0), 300.0, 200.0, 10.0).is_none());
    }
}
