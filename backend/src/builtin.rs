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

/// Builds the built-in detector for a catalog: reads its reference images
/// (files, S3 objects or pictures drawn in code) and its wordmarks.
#[async_trait::async_trait]
pub trait BuiltinFactory: Send + Sync {
    async fn build(&self, catalog: &ad_contract::Catalog) -> Result<BuiltinDetector, VisionError>;
}

/// The built-in detector as the catalog is now.
pub struct BuiltDetector {
    pub detector: Arc<BuiltinDetector>,
    /// The lowest confidence any product accepts.
    pub min_confidence: f32,
    /// [`crate::live_catalog::detector_inputs`] of the catalog it was built for.
    inputs: String,
}

/// The built-in detector that follows catalog changes: rebuilt only when
/// the references or wordmarks changed; a change of thresholds alone
/// updates the lowest confidence passed on.
pub struct LiveBuiltin {
    factory: Arc<dyn BuiltinFactory>,
    current: std::sync::RwLock<Arc<BuiltDetector>>,
    /// One rebuild at a time.
    rebuilding: tokio::sync::Mutex<()>,
}

impl LiveBuiltin {
    /// Builds the detector for `catalog`.
    pub async fn new(
        factory: Arc<dyn BuiltinFactory>,
        catalog: &ad_contract::Catalog,
    ) -> Result<Self, VisionError> {
        let detector = factory.build(catalog).await?;
        Ok(Self::with(factory, detector, catalog))
    }

    /// Starts from a detector already built for `catalog`.
    pub fn with(
        factory: Arc<dyn BuiltinFactory>,
        detector: BuiltinDetector,
        catalog: &ad_contract::Catalog,
    ) -> Self {
        Self {
            factory,
            current: std::sync::RwLock::new(Arc::new(BuiltDetector {
                detector: Arc::new(detector),
                min_confidence: crate::live_catalog::lowest_min_confidence(catalog),
                inputs: crate::live_catalog::detector_inputs(catalog),
            })),
            rebuilding: tokio::sync::Mutex::new(()),
        }
    }

    pub fn current(&self) -> Arc<BuiltDetector> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, built: BuiltDetector) {
        let new = Arc::new(built);
        match self.current.write() {
            Ok(mut c) => *c = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// Gets ready for `catalog`; returns whether the index was rebuilt.
    pub async fn follow(&self, catalog: &ad_contract::Catalog) -> Result<bool, VisionError> {
        let _one = self.rebuilding.lock().await;
        let now = self.current();
        let inputs = crate::live_catalog::detector_inputs(catalog);
        let min_confidence = crate::live_catalog::lowest_min_confidence(catalog);
        if inputs == now.inputs {
            if min_confidence != now.min_confidence {
                self.set(BuiltDetector {
                    detector: now.detector.clone(),
                    min_confidence,
                    inputs,
                });
            }
            return Ok(false);
        }
        let detector = self.factory.build(catalog).await?;
        self.set(BuiltDetector {
            detector: Arc::new(detector),
            min_confidence,
            inputs,
        });
        Ok(true)
    }

    /// Runs the current detector on encoded image bytes.
    pub async fn detect_bytes(&self, bytes: Vec<u8>) -> Result<Vec<Detection>, DetectError> {
        let built = self.current();
        detect_bytes(built.detector.clone(), bytes, built.min_confidence).await
    }

    /// [`Self::follow`] with the error as the detector port reports it.
    pub async fn follow_for_port(&self, catalog: &ad_contract::Catalog) -> Result<(), DetectError> {
        match self.follow(catalog).await {
            Ok(rebuilt) => {
                if rebuilt {
                    tracing::info!("built-in detector rebuilt for the changed catalog");
                }
                Ok(())
            }
            Err(e) => Err(DetectError::Other(ServiceError::caused_by(
                format!("the detector cannot use the new catalog: {e}"),
                e,
            ))),
        }
    }
}
