//! The catalog as it is now: an operator changes it while a show runs, and
//! the functions follow without a redeploy or restart.
//!
//! [`LiveCatalog`] holds the current version. Where the catalog lives
//! elsewhere (an S3 object in AWS), a [`CatalogSource`] is asked at most
//! every [`LiveCatalog::check_every`] seconds whether it changed, with the
//! version it has (an ETag): an unchanged catalog costs one conditional
//! read, and a changed one is read, checked by the contract's reader, and
//! handed to the detector before it takes effect. A catalog that fails its
//! checks never replaces a good one: the functions keep working on the last
//! good version and say why.
//!
//! The studio has no source to poll: its console saves a version and calls
//! [`crate::handlers::Pipeline::replace_catalog`] directly.

use crate::ports::ServiceError;
use ad_contract::Catalog;
use async_trait::async_trait;
use std::sync::{Arc, Mutex, RwLock};

/// How often a function asks its source whether the catalog changed: the
/// issue's bound for a change to reach every function is 60 s.
pub const CHECK_EVERY_SECONDS: u64 = 30;

/// One version of the catalog.
#[derive(Debug, Clone)]
pub struct CatalogVersion {
    /// The source's name for this version (an S3 ETag, the studio's `v3`);
    /// `bundled` for the catalog a function was deployed with.
    pub version: String,
    pub catalog: Arc<Catalog>,
}

/// A catalog's text as its source holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogText {
    pub version: String,
    pub text: String,
}

/// Where the current catalog is kept (an S3 object in AWS).
#[async_trait]
pub trait CatalogSource: Send + Sync {
    /// The catalog, unless its version is still `known` (then `None`).
    async fn read_if_changed(&self, known: &str) -> Result<Option<CatalogText>, ServiceError>;
}

/// One saved version of the catalog, newest first in a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SavedVersion {
    /// The store's id for it (an S3 version id).
    pub id: String,
    /// When it was saved (ISO 8601, as the store says).
    pub saved_at: String,
    pub bytes: u64,
    /// The version in effect.
    pub latest: bool,
}

/// A version just saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Its id in the history (an S3 version id).
    pub id: String,
    /// Its version as [`CatalogSource::read_if_changed`] names it (the ETag).
    pub etag: String,
}

/// The name a reference image is kept under: its content's hash and the
/// type its bytes say, so a changed image is a new name, which the
/// detector's rebuild sees (see [`detector_inputs`]).
pub fn reference_name(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let ext = if bytes.starts_with(b"\x89PNG") {
        "png"
    } else if bytes.starts_with(b"\xff\xd8") {
        "jpg"
    } else if bytes.starts_with(b"RIFF") {
        "webp"
    } else {
        "svg"
    };
    format!("{hex}.{ext}")
}

/// Where the operator writes the catalog, keeping every version (an S3
/// object in a versioned bucket): what the operator function's catalog
/// actions use.
#[async_trait]
pub trait CatalogHistory: Send + Sync {
    /// Saves `text` (checked already) as the newest version.
    async fn save(&self, text: &str) -> Result<Saved, ServiceError>;
    /// The newest `limit` versions, newest first.
    async fn versions(&self, limit: usize) -> Result<Vec<SavedVersion>, ServiceError>;
    /// A version's text (`None`: no such version).
    async fn version(&self, id: &str) -> Result<Option<String>, ServiceError>;
    /// Keeps a reference image (checked already) under `name`; returns how
    /// the catalog names it (`s3://bucket/references/…`).
    async fn save_reference(&self, name: &str, bytes: &[u8]) -> Result<String, ServiceError>;
}

/// Why a new catalog did not take effect (the old one stays).
#[derive(Debug, thiserror::Error)]
pub enum CatalogChangeError {
    #[error("cannot read the catalog from its source")]
    Source(#[source] ServiceError),
    #[error("catalog version {version} is refused; the last good version stays")]
    Invalid {
        version: String,
        #[source]
        error: ad_contract::CatalogError,
    },
    #[error("the detector cannot use catalog version {version}; the last good version stays")]
    Detector {
        version: String,
        #[source]
        error: crate::ports::DetectError,
    },
}

/// The current catalog, and where to look for a newer one.
pub struct LiveCatalog {
    current: RwLock<Arc<CatalogVersion>>,
    source: Option<Arc<dyn CatalogSource>>,
    /// Where the operator's changes are written (the operator function).
    history: Option<Arc<dyn CatalogHistory>>,
    check_every: u64,
    /// When the source was last asked (Unix seconds); `None`: never.
    last_check: Mutex<Option<u64>>,
    /// One check at a time: concurrent events do not all read the source.
    checking: tokio::sync::Mutex<()>,
}

impl LiveCatalog {
    /// A catalog that changes only through [`Self::set`].
    pub fn fixed(catalog: Catalog, version: impl Into<String>) -> Self {
        Self {
            current: RwLock::new(Arc::new(CatalogVersion {
                version: version.into(),
                catalog: Arc::new(catalog),
            })),
            source: None,
            history: None,
            check_every: CHECK_EVERY_SECONDS,
            last_check: Mutex::new(None),
            checking: tokio::sync::Mutex::new(()),
        }
    }

    /// Starts from `catalog` and follows `source`, asking it at most every
    /// `check_every` seconds.
    pub fn following(
        catalog: Catalog,
        version: impl Into<String>,
        source: Arc<dyn CatalogSource>,
        check_every: u64,
    ) -> Self {
        Self {
            source: Some(source),
            check_every,
            ..Self::fixed(catalog, version)
        }
    }

    /// With `history`, the operator's catalog actions write there.
    pub fn with_history(mut self, history: Arc<dyn CatalogHistory>) -> Self {
        self.history = Some(history);
        self
    }

    /// Where changes are written, when this process may write them.
    pub fn history(&self) -> Option<&Arc<dyn CatalogHistory>> {
        self.history.as_ref()
    }

    /// The version in effect now.
    pub fn current(&self) -> Arc<CatalogVersion> {
        match self.current.read() {
            Ok(c) => c.clone(),
            // A writer cannot panic while holding the lock (it only swaps an
            // Arc), but a poisoned lock still holds a whole value.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The catalog in effect now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.current().catalog.clone()
    }

    /// Makes `version` the current one.
    pub fn set(&self, version: CatalogVersion) {
        let new = Arc::new(version);
        match self.current.write() {
            Ok(mut c) => *c = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// Whether the source is due to be asked at `now`.
    fn due(&self, now: u64) -> bool {
        let Some(_) = &self.source else { return false };
        let last = self.last_check.lock().map(|l| *l).unwrap_or(None);
        last.is_none_or(|at| now.saturating_sub(at) >= self.check_every || now < at)
    }

    /// Asks the source, when due, for a catalog newer than the current one;
    /// returns it checked (not yet in effect), or `None` when nothing is due
    /// or nothing changed. A failed read is retried at the next due time,
    /// not on every event.
    pub async fn poll(&self, now: u64) -> Result<Option<CatalogVersion>, CatalogChangeError> {
        if !self.due(now) {
            return Ok(None);
        }
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let _one = self.checking.lock().await;
        // Another event may have checked while this one waited.
        if !self.due(now) {
            return Ok(None);
        }
        if let Ok(mut last) = self.last_check.lock() {
            *last = Some(now);
        }
        let known = self.current().version.clone();
        let Some(text) = source
            .read_if_changed(&known)
            .await
            .map_err(CatalogChangeError::Source)?
        else {
            return Ok(None);
        };
        if text.version == known {
            return Ok(None);
        }
        let catalog =
            Catalog::from_json(&text.text).map_err(|error| CatalogChangeError::Invalid {
                version: text.version.clone(),
                error,
            })?;
        Ok(Some(CatalogVersion {
            version: text.version,
            catalog: Arc::new(catalog),
        }))
    }
}

/// What the built-in detector is built from in a catalog: each product's
/// label, reference images and wordmark. Titles, prices, links and times
/// change nothing in the detector, so a change of those alone rebuilds
/// nothing.
pub fn detector_inputs(catalog: &Catalog) -> String {
    let mut out = String::new();
    for p in catalog.products() {
        out.push_str(p.labels.first().map(String::as_str).unwrap_or(""));
        out.push('\u{1f}');
        for r in &p.reference_images {
            out.push_str(r);
            out.push('\u{1f}');
        }
        out.push('\u{1e}');
        out.push_str(&p.wordmark);
        out.push('\n');
    }
    out
}

/// The lowest confidence any product accepts: detections under it are not
/// worth passing on.
pub fn lowest_min_confidence(catalog: &Catalog) -> f32 {
    catalog
        .products()
        .iter()
        .map(|p| p.min_confidence)
        .fold(100.0_f32, f32::min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn catalog(title: &str) -> String {
        format!(
            r#"{{"products":[{{"id":"mug","labels":["mug"],"title":"{title}","description":"d","price":"$1",
            "image_url":"https://x.example/i.png","link_url":"https://x.example/p",
            "min_confidence":50,"display_seconds":10,"cooldown_seconds":5,"reference_images":["mug.png"]}}]}}"#
        )
    }

    /// A source with one object and its version; counts reads.
    struct Object {
        text: Mutex<CatalogText>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl CatalogSource for Object {
        async fn read_if_changed(&self, known: &str) -> Result<Option<CatalogText>, ServiceError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let text = self.text.lock().map_err(|_| ServiceError::from("lock"))?;
            Ok((text.version != known).then(|| text.clone()))
        }
    }

    fn live(source: Arc<Object>) -> LiveCatalog {
        let first = Catalog::from_json(&catalog("One")).expect("test catalog");
        LiveCatalog::following(first, "v1", source, 30)
    }

    fn object(version: &str, text: String) -> Arc<Object> {
        Arc::new(Object {
            text: Mutex::new(CatalogText {
                version: version.into(),
                text,
            }),
            reads: AtomicUsize::new(0),
        })
    }

    #[tokio::test]
    async fn asks_the_source_at_most_once_per_interval() {
        let source = object("v1", catalog("One"));
        let live = live(source.clone());
        assert!(live.poll(1000).await.expect("poll").is_none());
        assert!(live.poll(1010).await.expect("poll").is_none());
        assert!(live.poll(1029).await.expect("poll").is_none());
        assert_eq!(source.reads.load(Ordering::SeqCst), 1);
        assert!(live.poll(1030).await.expect("poll").is_none());
        assert_eq!(source.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_new_version_is_read_checked_and_returned_not_yet_applied() {
        let source = object("v1", catalog("One"));
        let live = live(source.clone());
        *source.text.lock().expect("lock") = CatalogText {
            version: "v2".into(),
            text: catalog("Two"),
        };
        let next = live.poll(5).await.expect("poll").expect("a new version");
        assert_eq!(next.version, "v2");
        assert_eq!(next.catalog.products()[0].title, "Two");
        assert_eq!(live.current().version, "v1");
        live.set(next);
        assert_eq!(live.catalog().products()[0].title, "Two");
    }

    #[tokio::test]
    async fn an_invalid_version_is_refused_by_field_and_the_old_one_stays() {
        let source = object("v2", catalog("One").replace("$1", ""));
        let live = live(source);
        let err = live.poll(5).await.expect_err("refused");
        let text = crate::ports::Chain(&err).to_string();
        assert!(text.contains("v2") && text.contains("price"), "{text}");
        assert_eq!(live.current().version, "v1");
    }

    #[tokio::test]
    async fn a_fixed_catalog_never_polls() {
        let live = LiveCatalog::fixed(
            Catalog::from_json(&catalog("One")).expect("test catalog"),
            "bundled",
        );
        assert!(live.poll(0).await.expect("poll").is_none());
    }

    #[test]
    fn detector_inputs_ignore_what_the_detector_does_not_use() {
        let a = Catalog::from_json(&catalog("One")).expect("a");
        let b = Catalog::from_json(&catalog("Two")).expect("b");
        assert_eq!(detector_inputs(&a), detector_inputs(&b));
        let c = Catalog::from_json(&catalog("One").replace("mug.png", "mug2.png")).expect("c");
        assert_ne!(detector_inputs(&a), detector_inputs(&c));
    }
}
