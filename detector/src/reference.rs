//! The catalog's reference images: as given (label, where from, pixels), and
//! as analysed once at start-up (trimmed, scaled, keypoints, small
//! template), a lockup's parts included.

use crate::gray::{self, Gray};
use crate::orb::{self, Features, Pyramid};
use crate::{parts, small, Params, VisionError};

/// The longest side references are analysed at.
const REFERENCE_SIDE: usize = 480;
/// A reference's logo must be at least this long (pixels, after trimming).
const MIN_REFERENCE_SIDE: usize = 48;
/// ... and at least this high (a wordmark can be thin, not a line).
const MIN_REFERENCE_THICKNESS: usize = 12;
/// Reference keypoints needed for a label to be findable at all.
const MIN_REFERENCE_KEYPOINTS: usize = 40;

/// A picture of a label's logo, as the catalog gives it.
#[derive(Clone, Debug)]
pub struct Reference {
    pub label: String,
    /// Where it came from (a path, an S3 key): for messages only.
    pub source: String,
    pub image: Gray,
}

impl Reference {
    pub fn new(label: impl Into<String>, source: impl Into<String>, image: Gray) -> Self {
        Self {
            label: label.into(),
            source: source.into(),
            image,
        }
    }

    /// Decodes an image file's bytes (PNG, JPEG, WebP or SVG), with errors
    /// that name the label and the source.
    pub fn decode(label: &str, source: &str, bytes: &[u8]) -> Result<Self, VisionError> {
        let image = if is_svg(bytes) {
            render_svg(bytes).map_err(|e| problem(label, source, e))?
        } else {
            gray::decode(bytes).map_err(|e| problem(label, source, e.to_string()))?
        };
        Ok(Self::new(label, source, image))
    }

    /// Reads a reference image file for `label`.
    pub fn load(label: &str, path: &std::path::Path) -> Result<Self, VisionError> {
        let source = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| problem(label, &source, format!("cannot read the file: {e}")))?;
        Self::decode(label, &source, &bytes)
    }
}

/// An SVG is rendered with its longest side this long: twice the analysis
/// size, so that trimming its margins still leaves enough.
const SVG_SIDE: f32 = 2.0 * REFERENCE_SIDE as f32;
/// SVG files larger than this are refused unread: a logo is a few KB to a few
/// hundred, and parsing is bounded by the input.
const MAX_SVG_BYTES: usize = 4 << 20;

/// Whether `bytes` look like an SVG document: XML text whose first
/// kilobytes open an `<svg` element (a raster format starts with binary
/// magic instead).
fn is_svg(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let start = head.trim_start_matches('\u{feff}').trim_start();
    start.starts_with('<') && head.contains("<svg")
}

/// Renders an SVG logo in memory (nothing it links to is fetched, and text
/// not turned into paths is not drawn), transparency kept for
/// [`Gray::from_dynamic`] to lay on a contrasting ground.
fn render_svg(bytes: &[u8]) -> Result<Gray, String> {
    use resvg::{tiny_skia, usvg};
    if bytes.len() > MAX_SVG_BYTES {
        return Err(format!(
            "is an SVG of {} KB; the detector reads SVG logos up to {} KB: simplify it or give a PNG",
            bytes.len() / 1024,
            MAX_SVG_BYTES / 1024
        ));
    }
    // `<image>` elements are not followed: no file is read and no
    // embedded picture decoded, whatever the SVG names.
    let options = usvg::Options {
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_data(bytes, &options)
        .map_err(|e| format!("is not an SVG the detector can read ({e}); give a PNG instead"))?;
    let size = tree.size();
    let (w, h) = (size.width(), size.height());
    let scale = SVG_SIDE / w.max(h);
    let (pw, ph) = (
        (w * scale).round().max(1.0) as u32,
        (h * scale).round().max(1.0) as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(pw, ph).ok_or_else(|| {
        format!("is an SVG of {w}x{h}, which cannot be drawn; give a PNG instead")
    })?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let rgba: Vec<u8> = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect();
    let image = image::RgbaImage::from_raw(pw, ph, rgba)
        .ok_or_else(|| "the SVG's drawing has the wrong size".to_owned())?;
    Ok(Gray::from_dynamic(&image::DynamicImage::ImageRgba8(image)))
}

fn problem(label: &str, source: &str, problem: String) -> VisionError {
    VisionError::Reference {
        label: label.to_owned(),
        source_name: source.to_owned(),
        problem,
    }
}

/// One reference image (or lockup part), analysed once.
pub(crate) struct AnalysedReference {
    pub label: String,
    pub image: Gray,
    pub features: Features,
    /// For logos too small for keypoints; `None` when the reference does
    /// not make a usable small template (too elongated), and for a lockup's
    /// parts (see [`analyse`]).
    pub small: Option<small::SmallTemplate>,
}

/// Whether a trimmed picture is too small to be a reference.
fn too_small(image: &Gray) -> bool {
    image.w.max(image.h) < MIN_REFERENCE_SIDE || image.w.min(image.h) < MIN_REFERENCE_THICKNESS
}

/// Every reference analysed, followed by its lockup's parts (when
/// `params.lockup_parts`); the first reference that cannot work is an error
/// that says why and what to give instead.
pub(crate) fn analyse(
    references: Vec<Reference>,
    params: &Params,
) -> Result<Vec<AnalysedReference>, VisionError> {
    let mut analysed = Vec::with_capacity(references.len());
    for Reference {
        label,
        source,
        image,
    } in references
    {
        let image = image.trim();
        if too_small(&image) {
            return Err(problem(
                &label,
                &source,
                format!(
                    "is too small: {}x{} pixels once its plain margins are trimmed; give a picture in which the logo is at least {MIN_REFERENCE_SIDE} pixels wide",
                    image.w, image.h
                ),
            ));
        }
        let whole = analyse_one(&label, &image, params, true).map_err(|keypoints| {
            problem(
                &label,
                &source,
                format!(
                    "has too little texture to be recognised ({keypoints} keypoints, at least {MIN_REFERENCE_KEYPOINTS} needed); use a sharper, larger picture of the logo itself"
                ),
            )
        })?;
        analysed.push(whole);
        if !params.lockup_parts {
            continue;
        }
        // A lockup's parts serve where they can; one too small or too plain
        // to recognise is left out, not an error. A part is found by
        // keypoints only, never searched whole as a small logo: a part is
        // less of a logo than the lockup, and at 35 px "us" in a printed
        // page passed for the letters of "aws".
        for (k, part) in parts::lockup_parts(&image).iter().enumerate() {
            if too_small(part) {
                continue;
            }
            match analyse_one(&label, part, params, false) {
                Ok(r) => analysed.push(r),
                Err(keypoints) => {
                    tracing::debug!(%label, %source, part = k, keypoints, "a lockup part too plain to recognise alone")
                }
            }
        }
    }
    Ok(analysed)
}

/// A trimmed picture scaled to the analysis size, with its keypoints and
/// (when `small_template`) its small template; the keypoint count when too
/// few.
fn analyse_one(
    label: &str,
    image: &Gray,
    params: &Params,
    small_template: bool,
) -> Result<AnalysedReference, usize> {
    let scale = (REFERENCE_SIDE as f32 / image.w.max(image.h) as f32).min(1.0);
    let image = image.resize(
        ((image.w as f32 * scale).round() as usize).max(1),
        ((image.h as f32 * scale).round() as usize).max(1),
    );
    let features = orb::extract(
        &Pyramid::build(&image, &params.reference),
        &params.reference,
    );
    if features.keypoints.len() < MIN_REFERENCE_KEYPOINTS {
        return Err(features.keypoints.len());
    }
    let small = if small_template {
        small::SmallTemplate::new(&image)
    } else {
        None
    };
    Ok(AnalysedReference {
        label: label.to_owned(),
        image,
        features,
        small,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_is_told_from_raster_by_its_opening() {
        assert!(is_svg(
            b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"
        ));
        assert!(is_svg("\u{feff}  <svg viewBox=\"0 0 1 1\"/>".as_bytes()));
        assert!(is_svg(b"<!-- made by hand -->\n<svg/>"));
        assert!(!is_svg(b"\x89PNG\r\n\x1a\n<svg"));
        assert!(!is_svg(b"a caption about <svg> files"));
        assert!(!is_svg(b"<html><body></body></html>"));
    }

    #[test]
    fn an_oversized_or_unreadable_svg_is_refused_with_the_fix() {
        let big = format!("<svg>{}</svg>", " ".repeat(MAX_SVG_BYTES));
        let e = render_svg(big.as_bytes()).unwrap_err();
        assert!(
            e.contains("SVG logos up to") && e.contains("give a PNG"),
            "{e}"
        );
        let e = render_svg(b"<svg xmlns=\"http://www.w3.org/2000/svg\"><rect").unwrap_err();
        assert!(e.contains("is not an SVG the detector can read"), "{e}");
    }

    #[test]
    fn an_svg_renders_at_the_analysis_size_with_its_shape() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect x="0" y="0" width="10" height="10"/></svg>"#;
        let gray = render_svg(svg).unwrap();
        assert_eq!((gray.w, gray.h), (960, 480));
        // The black square on the left, the transparent half laid on the
        // ground that contrasts with it.
        assert!(gray.at(240, 240) < 60, "{}", gray.at(240, 240));
        assert!(gray.at(720, 240) > 190, "{}", gray.at(720, 240));
    }
}
