//! QR codes of product links, made in the browser as SVG.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// An SVG QR code of `link`: error correction M, the standard 4-module quiet
/// zone, dark on white, scaled by CSS (the SVG has a viewBox and no fixed
/// size). `None` when the link is too long for a QR code.
pub fn qr_svg(link: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color>()
            .quiet_zone(true)
            .module_dimensions(1, 1)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_becomes_an_svg_with_a_quiet_zone() {
        let link = "https://shop.example/kestrel/trail-runner?utm_source=ivs-live";
        let svg = qr_svg(link).unwrap();
        assert!(svg.contains("<svg") && svg.contains("viewBox"));
        let modules = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M)
            .unwrap()
            .width();
        // The symbol plus 4 quiet-zone modules on each side.
        let expected = format!("width=\"{}\"", modules + 8);
        assert!(svg.contains(&expected), "{}", &svg[..200.min(svg.len())]);
        assert!(qr_svg(&"x".repeat(5000)).is_none());
    }
}
