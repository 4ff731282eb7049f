//! QR codes of product links, made in the browser as SVG.

use qrcode::{Color, EcLevel, QrCode};
use std::fmt::Write;

/// The standard quiet zone, in modules, on each side.
const QUIET_ZONE: usize = 4;

/// An SVG QR code of `link`: error correction M, the standard 4-module quiet
/// zone, dark on white, scaled by CSS (the SVG has a viewBox and no fixed
/// size). `None` when the link is too long for a QR code.
///
/// The SVG is written here rather than with the `qrcode` crate's renderer:
/// one `<path>` of horizontal runs is a smaller DOM than a rect per module,
/// and the hand-written loop is a fraction of the renderer's wasm.
pub fn qr_svg(link: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET_ZONE;
    let mut svg = String::with_capacity(64 + width * width * 3);
    // Writing into a String cannot fail.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" height="{size}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path fill="#000" d=""##
    );
    for (y, row) in colors.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if row[x] == Color::Dark {
                let start = x;
                while x < width && row[x] == Color::Dark {
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

    #[test]
    fn a_link_becomes_an_svg_of_exactly_its_modules_inside_a_quiet_zone() {
        let link = "https://shop.example/kestrel/trail-runner?utm_source=ivs-live";
        let svg = qr_svg(link).unwrap();
        let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).unwrap();
        let w = code.width();
        assert!(svg.contains(&format!("viewBox=\"0 0 {} {}\"", w + 8, w + 8)));
        let expected: Vec<(usize, usize)> = code
            .to_colors()
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == Color::Dark)
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
