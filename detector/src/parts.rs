//! A logo lockup's parts. Logos usually come as a lockup: a mark above or
//! beside a word (docker's whale over "docker", Kubernetes' wheel beside
//! its name). In the world the parts often appear apart or rearranged (a
//! podium with the whale alone, a slide with the word), and the whole
//! lockup then neither matches nor verifies. So a reference whose ink
//! falls in two groups split by a blank band (rows or columns of plain
//! ground across the whole logo) also gives each group as a reference of
//! its own, for the same label.

use crate::gray::Gray;

/// A band narrower than this share of the logo's extent along the split
/// is a gap between letters, not between parts.
const MIN_BAND: f32 = 0.03;
/// Each part must hold this share of the ink at least: a ™ sign or a
/// tagline is not a part.
const MIN_INK_SHARE: f32 = 0.15;

/// The two parts of a lockup (each trimmed), or nothing when the logo is
/// one piece. `image` is a trimmed reference: its corner is the ground.
pub fn lockup_parts(image: &Gray) -> Vec<Gray> {
    if image.w < 8 || image.h < 8 {
        return Vec::new();
    }
    let bg = image.at(0, 0) as i32;
    let ink = |x: usize, y: usize| (image.at(x, y) as i32 - bg).abs() > 12;
    let rows: Vec<usize> = (0..image.h)
        .map(|y| (0..image.w).filter(|&x| ink(x, y)).count())
        .collect();
    let cols: Vec<usize> = (0..image.w)
        .map(|x| (0..image.h).filter(|&y| ink(x, y)).count())
        .collect();
    let total: usize = rows.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    // The widest run of blank lines strictly inside the ink's extent, as
    // (start, end, width over the extent) along one axis.
    let widest_band = |counts: &[usize]| -> Option<(usize, usize, f32)> {
        let first = counts.iter().position(|&c| c > 0)?;
        let last = counts.iter().rposition(|&c| c > 0)?;
        let extent = (last - first + 1) as f32;
        let mut best: Option<(usize, usize)> = None;
        let mut start = None;
        for (i, &c) in counts.iter().enumerate().take(last + 1).skip(first) {
            match (c == 0, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    if best.is_none_or(|(a, b)| i - s > b - a) {
                        best = Some((s, i));
                    }
                    start = None;
                }
                _ => {}
            }
        }
        let (a, b) = best?;
        let share = (b - a) as f32 / extent;
        let ink_before: usize = counts[..a].iter().sum();
        let ink_after: usize = counts[b..].iter().sum();
        let balanced = ink_before.min(ink_after) as f32 >= MIN_INK_SHARE * total as f32;
        (share >= MIN_BAND && balanced).then_some((a, b, share))
    };
    let crop = |x0: usize, y0: usize, x1: usize, y1: usize| {
        let mut out = Gray::new(x1 - x0, y1 - y0);
        for y in y0..y1 {
            out.px[(y - y0) * out.w..(y - y0 + 1) * out.w]
                .copy_from_slice(&image.px[y * image.w + x0..y * image.w + x1]);
        }
        out.trim()
    };
    let mid = |a: usize, b: usize| (a + b) / 2;
    match (widest_band(&rows), widest_band(&cols)) {
        (Some((a, b, r)), c) if c.is_none_or(|c| r >= c.2) => vec![
            crop(0, 0, image.w, mid(a, b)),
            crop(0, mid(a, b), image.w, image.h),
        ],
        (_, Some((a, b, _))) => vec![
            crop(0, 0, mid(a, b), image.h),
            crop(mid(a, b), 0, image.w, image.h),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(w: usize, h: usize, blocks: &[(usize, usize, usize, usize)]) -> Gray {
        let mut g = Gray::new(w, h);
        g.px.iter_mut().for_each(|p| *p = 240);
        for &(x0, y0, x1, y1) in blocks {
            for y in y0..y1 {
                for x in x0..x1 {
                    g.px[y * w + x] = 20;
                }
            }
        }
        g
    }

    #[test]
    fn a_mark_over_a_word_splits_in_two() {
        // A 60x40 mark, a 20 px band, then a 100x20 "word".
        let g = canvas(120, 100, &[(30, 5, 90, 45), (10, 65, 110, 85)]);
        let parts = lockup_parts(&g);
        assert_eq!(parts.len(), 2);
        assert!(
            parts[0].w < 80 && parts[0].h < 60,
            "{}x{}",
            parts[0].w,
            parts[0].h
        );
        assert!(
            parts[1].w > 95 && parts[1].h < 35,
            "{}x{}",
            parts[1].w,
            parts[1].h
        );
    }

    #[test]
    fn a_mark_beside_a_word_splits_in_two() {
        let g = canvas(200, 60, &[(5, 5, 55, 55), (75, 20, 195, 40)]);
        let parts = lockup_parts(&g);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].w < 70 && parts[1].w > 110);
    }

    #[test]
    fn letters_and_small_marks_do_not_split() {
        // Letters 2 px apart: gaps, not a band.
        let letters: Vec<_> = (0..8).map(|i| (5 + i * 14, 5, 17 + i * 14, 35)).collect();
        assert!(lockup_parts(&canvas(120, 40, &letters)).is_empty());
        // A tiny ™ beside a big mark.
        assert!(lockup_parts(&canvas(120, 60, &[(5, 5, 95, 55), (105, 5, 112, 12)])).is_empty());
        // One piece.
        assert!(lockup_parts(&canvas(60, 60, &[(5, 5, 55, 55)])).is_empty());
    }
}
