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

    /// Decodes encoded image bytes, with errors that name the label and the
    /// source.
    pub fn decode(label: &str, source: &str, bytes: &[u8]) -> Result<Self, VisionError> {
        let image = gray::decode(bytes).map_err(|e| problem(label, source, e.to_string()))?;
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
