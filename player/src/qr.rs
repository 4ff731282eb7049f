//! QR codes of product links, made in the browser as SVG.

use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{bits, Color, EcLevel, Version};
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

/// Error correction level M, per version 1 to 40 (ISO/IEC 18004 table 9):
/// error correction codewords per block, and the number of blocks. The data
/// codewords split as evenly as they can, the longer blocks last.
#[rustfmt::skip]
const EC_M: [(u8, u8); 40] = [
    (10, 1), (16, 1), (26, 1), (18, 2), (24, 2), (16, 4), (18, 4), (22, 4),
    (22, 5), (26, 5), (30, 5), (22, 8), (22, 9), (24, 9), (24, 10), (28, 10),
    (28, 11), (26, 13), (26, 14), (26, 16), (26, 17), (28, 17), (28, 18), (28, 20),
    (28, 21), (28, 23), (28, 25), (28, 26), (28, 28), (28, 29), (28, 31), (28, 33),
    (28, 35), (28, 37), (28, 38), (28, 40), (28, 43), (28, 45), (28, 47), (28, 49),
];

/// The QR symbol of `link` (error correction M) as dark/light modules, row
/// by row, with its width. `None` when the link is too long for a QR code.
///
/// The `qrcode` crate encodes the bits and draws the symbol; two steps are
/// done here, each for a reason:
/// - The mask. The crate's choice (`apply_best_mask`) takes ~0.9 ms natively,
///   95% of the QR's cost, so a card could not render in one frame;
///   [`penalty`] scores the same ISO 18004 rules on a flat grid in a fraction
///   of that.
/// - The Reed-Solomon codewords ([`codewords`]). The crate's step carries
///   ~4 KB of tables (generator polynomials for every size, every level) that
///   barely compress, in a player whose wasm size is a feature; level M needs
///   80 bytes of table and a few lines of arithmetic. A test checks the
///   result equals the crate's for every version.
pub fn qr_modules(link: &str) -> Option<(Vec<bool>, usize)> {
    let bits = encode_bytes(link.as_bytes())?;
    let version = bits.version();
    let width = version.width().max(0) as usize;
    let (data, ec_data) = codewords(&bits.into_bytes(), version)?;
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

/// `data` in byte mode, in the smallest version that holds it at level M.
fn encode_bytes(data: &[u8]) -> Option<bits::Bits> {
    (1..=40).find_map(|v| {
        let mut bits = bits::Bits::new(Version::Normal(v));
        bits.push_byte_data(data).ok()?;
        bits.push_terminator(EcLevel::M).ok()?;
        Some(bits)
    })
}

/// Splits `data` (all of a level-M symbol's data codewords) into blocks,
/// computes each block's Reed-Solomon codewords, and interleaves both as
/// the symbol carries them: `(data, error correction)`.
fn codewords(data: &[u8], version: Version) -> Option<(Vec<u8>, Vec<u8>)> {
    let Version::Normal(v) = version else {
        return None;
    };
    let &(ec_len, blocks) = EC_M.get(usize::try_from(v).ok()?.checked_sub(1)?)?;
    let (ec_len, blocks) = (usize::from(ec_len), usize::from(blocks));
    let short = data.len() / blocks;
    let long_blocks = data.len() % blocks;
    let divisor = rs_divisor(ec_len);
    let mut split = Vec::with_capacity(blocks);
    let mut rest = data;
    for b in 0..blocks {
        let len = short + usize::from(b >= blocks - long_blocks);
        let (block, tail) = rest.split_at_checked(len)?;
        split.push((block, rs_remainder(block, &divisor)));
        rest = tail;
    }
    let mut data_out = Vec::with_capacity(data.len());
    for i in 0..=short {
        data_out.extend(split.iter().filter_map(|(block, _)| block.get(i)));
    }
    let mut ec_out = Vec::with_capacity(ec_len * blocks);
    for i in 0..ec_len {
        ec_out.extend(split.iter().filter_map(|(_, ec)| ec.get(i)));
    }
    Some((data_out, ec_out))
}

/// Multiplies in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1, QR's field.
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        a = (a << 1) ^ if a & 0x80 != 0 { 0x1d } else { 0 };
        b >>= 1;
    }
    product
}

/// The generator polynomial (x - 1)(x - a)...(x - a^(degree-1)), highest
/// power first, without its leading 1.
fn rs_divisor(degree: usize) -> Vec<u8> {
    let mut poly = vec![0; degree];
    if let Some(last) = poly.last_mut() {
        *last = 1;
    }
    let mut root = 1;
    for _ in 0..degree {
        for j in 0..degree {
            poly[j] = gf_mul(poly[j], root) ^ poly.get(j + 1).copied().unwrap_or(0);
        }
        root = gf_mul(root, 2);
    }
    poly
}

/// The remainder of `block` times x^degree divided by `divisor`: the block's
/// error correction codewords.
fn rs_remainder(block: &[u8], divisor: &[u8]) -> Vec<u8> {
    let mut rem = vec![0; divisor.len()];
    for &byte in block {
        let factor = byte ^ rem.first().copied().unwrap_or(0);
        rem.rotate_left(1);
        if let Some(last) = rem.last_mut() {
            *last = 0;
        }
        for (r, &d) in rem.iter_mut().zip(divisor) {
            *r ^= gf_mul(d, factor);
        }
    }
    rem
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

    #[test]
    fn codewords_equal_the_crates_for_every_version() {
        for v in 1..=40 {
            let version = Version::Normal(v);
            let len = bits::Bits::new(version).max_len(EcLevel::M).unwrap() / 8;
            // Data that differs per version and per byte.
            let data: Vec<u8> = (0..len)
                .map(|i| (i as u32 * 131 + v as u32 * 17 + 7) as u8)
                .collect();
            let ours = codewords(&data, version).unwrap();
            let theirs = qrcode::ec::construct_codewords(&data, version, EcLevel::M).unwrap();
            assert_eq!(ours, theirs, "version {v}");
        }
        assert!(codewords(&[0; 16], Version::Micro(2)).is_none());
    }

    /// The symbol the `qrcode` crate draws for `link` with `mask`.
    fn crate_symbol(link: &str, mask: MaskPattern) -> Vec<bool> {
        let bits = encode_bytes(link.as_bytes()).unwrap();
        let version = bits.version();
        let (d, e) =
            qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).unwrap();
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
