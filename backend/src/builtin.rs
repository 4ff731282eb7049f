//! The backend's ties to the built-in detector (the `detector` crate): the
//! catalog's reference images in, Rekognition-shaped detections for the
//! decision core out. The detector itself knows neither the catalog nor the
//! decision core.

use crate::decision::{BoundingBox, Detection};
use crate::ports::{DetectError, ServiceError};
use detector::{BuiltinDetector, Found, RatioBox, Reference, VisionError};
use std::sync::Arc;

/// Rekognition-shaped detections for the decision core.
pub fn to_detections(found: Vec<Found>) -> Vec<Detection> {
    found
        .into_iter()
        .map(|f| Detection {
            label: f.label,
            confidence: f.confidence,
            bounding_box: Some(f.bbox.into()),
        })
        .collect()
}

impl From<RatioBox> for BoundingBox {
    fn from(b: RatioBox) -> Self {
        Self {
            left: b.left,
            top: b.top,
            width: b.width,
            height: b.height,
        }
    }
}

/// Runs the built-in detector on encoded image bytes off the async threads.
pub async fn detect_bytes(
    detector: Arc<BuiltinDetector>,
    bytes: Vec<u8>,
    min_confidence: f32,
) -> Result<Vec<Detection>, DetectError> {
    tokio::task::spawn_blocking(move || {
        let frame = detector::decode(&bytes)
            .map_err(|e| DetectError::BadImage(ServiceError::caused_by(e.to_string(), e)))?;
        Ok(to_detections(detector.detect(&frame, min_confidence)))
    })
    .await
    .map_err(|e| {
        DetectError::Other(ServiceError::caused_by(
            format!("detector task failed: {e}"),
            e,
        ))
    })?
}

/// The catalog's reference images, each under its product's first label (the
/// label the decision core maps back to the product). `read` fetches an
/// entry of `reference_images` (a path beside the catalog, an S3 object, or
/// a picture drawn in code). A product without references cannot be found
/// by the built-in detector; that is reported, not fatal, unless no product
/// has any.
pub fn references_from_catalog(
    catalog: &ad_contract::Catalog,
    mut read: impl FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<(Vec<Reference>, Vec<String>), VisionError> {
    let mut references = Vec::new();
    let mut without = Vec::new();
    for product in catalog.products() {
        let Some(label) = product.labels.first() else {
            continue;
        };
        if product.reference_images.is_empty() {
            without.push(product.id.as_str().to_owned());
        }
        for source in &product.reference_images {
            let bytes = read(source).map_err(|e| VisionError::Reference {
                label: label.clone(),
                source_name: source.clone(),
                problem: format!("cannot read it: {e}"),
            })?;
            references.push(Reference::decode(label, source, &bytes)?);
        }
    }
    if references.is_empty() && wordmarks_from_catalog(catalog).is_empty() {
        return Err(VisionError::Reference {
            label: "(every product)".into(),
            source_name: "the catalog".into(),
            problem: "no product lists reference_images or a wordmark; the built-in detector needs at least one picture of a product's logo, or the word it spells (see docs/detector.md)".into(),
        });
    }
    Ok((references, without))
}

/// The catalog's wordmarks as (label, word), each under its product's first
/// label like the references: the detector's second signal, for builds that
/// have it (the `detector` crate's `text` feature).
pub fn wordmarks_from_catalog(catalog: &ad_contract::Catalog) -> Vec<(String, String)> {
    catalog
        .products()
        .iter()
        .filter(|p| !p.wordmark.is_empty())
        .filter_map(|p| Some((p.labels.first()?.clone(), p.wordmark.clone())))
        .collect()
}

/// Gives `detector` the catalog's wordmarks as its second signal, reading
/// text with the models in `models_dir`; unchanged when no product has a
/// wordmark. Shared by the Lambda (`runtime::builtin_detector`) and the
/// studio's local chain.
#[cfg(feature = "text")]
pub fn with_catalog_wordmarks(
    detector: detector::BuiltinDetector,
    catalog: &ad_contract::Catalog,
    models_dir: &std::path::Path,
) -> Result<detector::BuiltinDetector, detector::VisionError> {
    let wordmarks = wordmarks_from_catalog(catalog)
        .iter()
        .map(|(label, word)| detector::text::Wordmark::new(label, word))
        .collect::<Result<Vec<_>, _>>()?;
    if wordmarks.is_empty() {
        return Ok(detector);
    }
    let reader = detector::text::TextReader::load(models_dir)?;
    Ok(detector.with_wordmarks(std::sync::Arc::new(reader), wordmarks))
}
