//! QR codes of product links, made in the browser as SVG.

use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{bits, ec, Color, EcLevel};
use std::fmt::Write;

/// The standard quiet zone, in modules, on each side.
const QUIET_ZONE: usize = 4;

const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// The QR symbol of `link` (error correction M) as dark/light modules, row
/// by row, with its width. `None` when the link is too long for a QR code.
///
/// The `qrcode` crate encodes, adds error correction and draws; the mask is
/// chosen here. The crate's own choice (`apply_best_mask`) takes ~0.9 ms
/// natively, 95% of the QR's cost, so a card could not render in one frame;
/// [`penalty`] scores the same ISO 18004 rules on a flat grid in a fraction
/// of that.
pub fn qr_modules(link: &str) -> Option<(Vec<bool>, usize)> {
    let bits = bits::encode_auto(link.as_bytes(), EcLevel::M).ok()?;
    let version = bits.version();
    let width = version.width().max(0) as usize;
    let (data, ec_data) = ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).ok()?;
    let mut unmasked = Canvas::new(version, EcLevel::M);
    unmasked.draw_all_functional_patterns();
    unmasked.draw_data(&data, &ec_data);
    MASKS
        .iter()
        .map(|&mask| {
            let mut canvas = unmasked.clone();
            canvas.apply_mask(mask);
            let dark: Vec<bool> = canvas
                .into_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect();
            (penalty(&dark, width), dark)
        })
        .min_by_key(|(score, _)| *score)
        .map(|(_, dark)| (dark, width))
}

/// ISO/IEC 18004 mask penalty of a symbol (`dark`, `width` modules square):
/// N1 runs of five or more alike, N2 2x2 blocks alike, N3 finder-like
/// 1:1:3:1:1 runs beside four light modules, N4 dark/light imbalance.
pub fn penalty(dark: &[bool], width: usize) -> u32 {
    const FINDER: [bool; 7] = [true, false, true, true, true, false, true];
    let w = width;
    let mut score = 0;
    for horizontal in [true, false] {
        for i in 0..w {
            let line: Vec<bool> = (0..w)
                .map(|j| {
                    if horizontal {
                        dark[i * w + j]
                    } else {
                        dark[j * w + i]
                    }
                })
                .collect();
            // N1
            let mut run = 1;
            for j in 1..=w {
                if j < w && line[j] == line[j - 1] {
                    run += 1;
                } else {
                    if run >= 5 {
                        score += run - 2;
                    }
                    run = 1;
                }
            }
            // N3: outside the symbol is the light quiet zone.
            let light = |from: usize, to: usize| (from..to).all(|j| j >= w || !line[j]);
            for at in 0..w.saturating_sub(6) {
                if line[at..at + 7] == FINDER
                    && (light(at.saturating_sub(4), at) || light(at + 7, at + 11))
                {
                    score += 40;
                }
            }
        }
    }
    // N2
    for y in 0..w.saturating_sub(1) {
        for x in 0..w - 1 {
            let c = dark[y * w + x];
            if dark[y * w + x + 1] == c
                && dark[(y + 1) * w + x] == c
                && dark[(y + 1) * w + x + 1] == c
            {
                score += 3;
            }
        }
    }
    // N4
    let dark_count = dark.iter().filter(|&&d| d).count();
    let percent = dark_count * 100 / dark.len().max(1);
    score += (percent.abs_diff(50) / 5) * 10;
    u32::try_from(score).unwrap_or(u32::MAX)
}

/// An SVG QR code of `link`: error correction M, the standard 4-module quiet
/// zone, dark on white, scaled by CSS (the SVG has a viewBox and no fixed
/// size). `None` when the link is too long for a QR code.
///
/// The SVG is written here rather than with the `qrcode` crate's renderer:
/// one `<path>` of horizontal runs is a smaller DOM than a rect per module,
/// and the hand-written loop is a fraction of the renderer's wasm.
pub fn qr_svg(link: &str) -> Option<String> {
    let (dark, width) = qr_modules(link)?;
    let size = width + 2 * QUIET_ZONE;
    let mut svg = String::with_capacity(256 + width * width);
    // Writing into a String cannot fail.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" height="{size}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path fill="#000" d=""##
    );
    for (y, row) in dark.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if row[x] {
                let start = x;
                while x < width && row[x] {
                    x += 1;
                }
                let _ = write!(
                    svg,
                    "M{} {}h{}v1h-{}z",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE,
                    x - start,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    svg.push_str(r#""/></svg>"#);
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the dark modules back out of the path, to check it draws
    /// exactly the symbol, offset by the quiet zone.
    fn modules_drawn(svg: &str) -> Vec<(usize, usize)> {
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut cells = Vec::new();
        for run in d.split('M').filter(|r| !r.is_empty()) {
            let (xy, rest) = run.split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let len: usize = rest.split('v').next().unwrap().parse().unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            cells.extend((x..x + len).map(|x| (x, y)));
        }
        cells
    }

    const LINKS: [&str; 3] = [
        "https://shop.example/k",
        "https://shop.example/kestrel/trail-runner?utm_source=ivs-live",
        "https://shop.example/products/kestrel-trail-runner-2026?utm_source=ivs&utm_medium=live&utm_campaign=spring-launch",
    ];

    /// The symbol the `qrcode` crate draws for `link` with `mask`.
    fn crate_symbol(link: &str, mask: MaskPattern) -> Vec<bool> {
        let bits = bits::encode_auto(link.as_bytes(), EcLevel::M).unwrap();
        let version = bits.version();
        let (d, e) = ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).unwrap();
        let mut c = Canvas::new(version, EcLevel::M);
        c.draw_all_functional_patterns();
        c.draw_data(&d, &e);
        c.apply_mask(mask);
        c.into_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect()
    }

    #[test]
    fn the_symbol_is_the_crates_with_the_least_penalised_mask() {
        for link in LINKS {
            let (dark, width) = qr_modules(link).unwrap();
            let code =
                qrcode::QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).unwrap();
            assert_eq!(width, code.width());
            let candidates: Vec<Vec<bool>> = MASKS.iter().map(|&m| crate_symbol(link, m)).collect();
            assert!(
                candidates.contains(&dark),
                "{link}: not one of the 8 masked symbols"
            );
            let best = penalty(&dark, width);
            assert!(candidates.iter().all(|c| penalty(c, width) >= best));
        }
    }

    #[test]
    fn penalty_follows_the_iso_rules_on_small_grids() {
        // 5x5 all light: N1 3 per row and column (30), N2 16 blocks (48),
        // N4 0% dark (100).
        assert_eq!(penalty(&[false; 25], 5), 178);
        // A checkerboard: no runs, no blocks, 13/25 dark is balanced.
        let checker: Vec<bool> = (0..25).map(|i| (i % 5 + i / 5) % 2 == 0).collect();
        assert_eq!(penalty(&checker, 5), 0);
        // One finder-like row 1:1:3:1:1 with four light modules after it, in
        // a 7x7 checkerboard otherwise: it adds N3 (40) plus its own runs.
        let mut grid: Vec<bool> = (0..49).map(|i| (i % 7 + i / 7) % 2 == 0).collect();
        let with_row = |grid: &mut Vec<bool>, row: [bool; 7]| grid[..7].copy_from_slice(&row);
        with_row(&mut grid, [true, false, true, true, true, false, true]);
        let finder = penalty(&grid, 7);
        with_row(&mut grid, [true, false, true, true, false, true, true]);
        let not_finder = penalty(&grid, 7);
        assert!(finder >= not_finder + 40, "{finder} vs {not_finder}");
    }

    #[test]
    fn a_link_becomes_an_svg_of_exactly_its_modules_inside_a_quiet_zone() {
        let link = LINKS[1];
        let svg = qr_svg(link).unwrap();
        let (dark, w) = qr_modules(link).unwrap();
        assert!(svg.contains(&format!("viewBox=\"0 0 {} {}\"", w + 8, w + 8)));
        let expected: Vec<(usize, usize)> = dark
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .map(|(i, _)| (i % w + 4, i / w + 4))
            .collect();
        let mut drawn = modules_drawn(&svg);
        drawn.sort_by_key(|&(x, y)| (y, x));
        assert_eq!(drawn, expected);
    }

    #[test]
    fn a_link_too_long_for_a_qr_code_has_none() {
        assert!(qr_svg(&"x".repeat(5000)).is_none());
    }
}
