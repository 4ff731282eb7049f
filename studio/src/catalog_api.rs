//! The console's catalog desk: the operator changes the catalog while the
//! show runs, with no restart. Every route is behind the studio's token,
//! and the state-changing ones behind the guard (loopback Host, the
//! studio's own origin, a JSON body).
//!
//! * `GET /console/api/catalog`: the catalog in effect, its version and the
//!   saved versions.
//! * `POST /console/api/catalog` `{"catalog": {...}, "note": "..."}`: checks
//!   it with the contract's catalog reader (every problem at once, each
//!   naming product and field: HTTP 422), readies the detector for it (its
//!   index rebuilt only if references or wordmarks changed; a reference it
//!   cannot use: 422 with the detector's reason), then saves it as the next
//!   version and puts it in effect for the decision core, the detector, the
//!   collector and the players (which re-read the catalog).
//! * `POST /console/api/catalog/restore` `{"version": n}`: the same, with a
//!   saved version's text.
//! * `POST /console/api/references` `{"image": "<base64>"}`: tries a
//!   reference image before it is used: the detector's reason when it
//!   cannot work (unreadable, too small, no texture), and otherwise where a
//!   detector built from it alone finds it on the last thumbnails. Only a
//!   usable image is kept, under the name the catalog then gives it.
//!
//! Every save, restore and refused change is in the audit log.

use crate::catalog_store::{CatalogStore, MAX_REFERENCE_BYTES};
use crate::console_api::no_store_json as answer;
use crate::operator_api::{Operator, TOKEN_CALLER};
use ad_contract::{Catalog, CatalogError};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use backend::live_catalog::CatalogVersion;
use backend::measure::Collector;
use backend::sightings::RecentSightings;
use base64::Engine;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Versions listed on the page.
const VERSIONS_SHOWN: usize = 30;
/// Thumbnails a reference is tried on: the last minute at 5 s thumbnails.
const TRY_ON: usize = 12;
/// The largest catalog body: the catalog's own limit, and its envelope.
const MAX_CATALOG_BODY: usize = ad_contract::catalog::MAX_CATALOG_BYTES + 4096;
/// A reference image's body: base64 of the largest image, and its envelope.
const MAX_REFERENCE_BODY: usize = MAX_REFERENCE_BYTES / 3 * 4 + 4096;

#[derive(Clone)]
pub struct CatalogDesk {
    pub operator: Operator,
    pub store: Arc<CatalogStore>,
    pub collector: Arc<Collector>,
    pub sightings: Arc<RecentSightings>,
    pub thumbnails_dir: PathBuf,
}

pub fn routes(desk: CatalogDesk) -> Router {
    Router::new()
        .route(
            "/console/api/catalog",
            get(current)
                .post(save)
                .layer(DefaultBodyLimit::max(MAX_CATALOG_BODY)),
        )
        .route(
            "/console/api/catalog/restore",
            post(restore).layer(DefaultBodyLimit::max(4096)),
        )
        .route(
            "/console/api/references",
            post(try_reference).layer(DefaultBodyLimit::max(MAX_REFERENCE_BODY)),
        )
        .with_state(desk)
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "the catalog desk needs the token the studio printed: Authorization: Bearer <token>",
    )
        .into_response()
}

fn refused(status: StatusCode, error: impl Into<String>) -> Response {
    answer(status, json!({ "error": error.into() }))
}

/// The version number a live catalog version carries (`v3` → 3).
fn number_of(version: &str) -> Option<i64> {
    version.strip_prefix('v')?.parse().ok()
}

async fn current(State(d): State<CatalogDesk>, headers: HeaderMap) -> Response {
    if !crate::measure_api::bearer_matches(&headers, &d.operator.token) {
        return unauthorised();
    }
    let live = d.operator.pipeline.catalog.current();
    let versions = match d.store.versions(VERSIONS_SHOWN) {
        Ok(v) => v,
        Err(e) => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                backend::ports::Chain(&e).to_string(),
            )
        }
    };
    let catalog: Value = serde_json::from_str(&live.catalog.to_json()).unwrap_or(Value::Null);
    answer(
        StatusCode::OK,
        json!({
            "version": number_of(&live.version),
            "catalog": catalog,
            "versions": versions,
        }),
    )
}

/// The catalog's problems as the page shows them, by product and field.
fn problems(error: &CatalogError) -> Value {
    let listed: Vec<Value> = error
        .problems()
        .iter()
        .map(|p| json!({ "product": p.product, "field": p.field, "message": p.message }))
        .collect();
    if listed.is_empty() {
        json!([{ "product": "", "field": "(catalog)", "message": error.to_string() }])
    } else {
        Value::Array(listed)
    }
}

/// Checks, readies and saves `text` as the next version; audited as `action`.
async fn put_in_effect(d: &CatalogDesk, text: String, note: &str, action: &str) -> Response {
    let p = &d.operator.pipeline;
    let now = i64::try_from(p.clock.now()).unwrap_or(i64::MAX);
    let request = json!({ "note": note }).to_string();
    let audit = |status: u16, body: &Value| {
        if let Err(e) = d.operator.audit.append(
            now,
            TOKEN_CALLER,
            action,
            &request,
            status,
            &body.to_string(),
        ) {
            tracing::error!(error = %backend::ports::Chain(&e), action, "catalog change not written to the audit log");
        }
    };
    let catalog = match Catalog::from_json(&text) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            let body = json!({ "error": "the catalog has problems; nothing was saved", "problems": problems(&e) });
            audit(422, &body);
            return answer(StatusCode::UNPROCESSABLE_ENTITY, body);
        }
    };
    let previous = p.catalog.current();
    let number = match d.store.save(&text, now, TOKEN_CALLER, note) {
        Ok(n) => n,
        Err(e) => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                backend::ports::Chain(&e).to_string(),
            )
        }
    };
    let version = CatalogVersion {
        version: format!("v{number}"),
        catalog: catalog.clone(),
    };
    if let Err(e) = p.replace_catalog(version).await {
        // Not in effect, so not in the history either.
        if let Err(e) = d.store.forget(number) {
            tracing::error!(error = %backend::ports::Chain(&e), number, "a refused catalog version stays in the history");
        }
        let body = json!({
            "error": format!("the detector cannot use this catalog; nothing was saved: {}", backend::ports::Chain(&e)),
        });
        audit(422, &body);
        return answer(StatusCode::UNPROCESSABLE_ENTITY, body);
    }
    d.collector.set_catalog(catalog.clone());
    tracing::info!(version = number, previous = %previous.version, action, "catalog changed by the operator");
    let body = json!({ "version": number, "products": catalog.products().len(), "at": now });
    audit(200, &body);
    answer(StatusCode::OK, body)
}

async fn save(State(d): State<CatalogDesk>, headers: HeaderMap, body: String) -> Response {
    if !crate::measure_api::bearer_matches(&headers, &d.operator.token) {
        return unauthorised();
    }
    let request: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON ({e}); send {{\"catalog\": {{\"products\": [...]}}, \"note\": \"...\"}}"),
            )
        }
    };
    let text =
        match request.get("catalog") {
            Some(Value::String(text)) => text.clone(),
            Some(object @ Value::Object(_)) => object.to_string(),
            _ => return refused(
                StatusCode::BAD_REQUEST,
                "catalog: missing; send {\"catalog\": {\"products\": [...]}, \"note\": \"...\"}",
            ),
        };
    let note = note_of(&request, "edited in the console");
    put_in_effect(&d, text, &note, "catalog").await
}

fn note_of(request: &Value, default: &str) -> String {
    let note = request
        .get("note")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(default);
    note.chars().take(200).collect()
}

async fn restore(State(d): State<CatalogDesk>, headers: HeaderMap, body: String) -> Response {
    if !crate::measure_api::bearer_matches(&headers, &d.operator.token) {
        return unauthorised();
    }
    let Some(number) = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("version").and_then(Value::as_i64))
    else {
        return refused(
            StatusCode::BAD_REQUEST,
            "version: missing or not a number; send {\"version\": 3}",
        );
    };
    let text = match d.store.text(number) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return refused(
                StatusCode::NOT_FOUND,
                format!("version {number} is not kept; the console lists the versions there are"),
            )
        }
        Err(e) => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                backend::ports::Chain(&e).to_string(),
            )
        }
    };
    put_in_effect(&d, text, &format!("restored version {number}"), "restore").await
}

async fn try_reference(State(d): State<CatalogDesk>, headers: HeaderMap, body: String) -> Response {
    if !crate::measure_api::bearer_matches(&headers, &d.operator.token) {
        return unauthorised();
    }
    let request = serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
    let encoded = request
        .get("image")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // The product it is for, to name in the detector's reason.
    let label: String = request
        .get("product")
        .and_then(Value::as_str)
        .unwrap_or(TRY_LABEL)
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let Some(encoded) = encoded else {
        return refused(
            StatusCode::BAD_REQUEST,
            "image: missing; send {\"image\": \"<the image file, base64>\"}",
        );
    };
    let bytes = match base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
        Ok(b) => b,
        Err(e) => return refused(StatusCode::BAD_REQUEST, format!("image: not base64 ({e})")),
    };
    if bytes.len() > MAX_REFERENCE_BYTES {
        return refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the image is {} KB; a reference may be up to {} KB (a logo needs no more)",
                bytes.len() / 1024,
                MAX_REFERENCE_BYTES / 1024
            ),
        );
    }
    let name = crate::catalog_store::reference_name(&bytes);
    let thumbnails: Vec<(u64, u64, PathBuf)> = d
        .sightings
        .newest(TRY_ON)
        .into_iter()
        .filter(|s| !s.key.split('/').any(|part| part == ".." || part.is_empty()))
        .map(|s| (s.seq, s.at, d.thumbnails_dir.join(&s.key)))
        .collect();
    let tried_name = name.clone();
    let tried = tokio::task::spawn_blocking(move || {
        try_on(&label, &tried_name, &bytes, &thumbnails).map(|t| (t, bytes))
    })
    .await;
    let (tries, bytes) = match tried {
        Ok(Ok(t)) => t,
        Ok(Err(reason)) => {
            return answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": reason, "saved": false }),
            )
        }
        Err(e) => {
            return refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the try stopped: {e}"),
            )
        }
    };
    if let Err(e) = d.store.add_reference(&bytes) {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            backend::ports::Chain(&e).to_string(),
        );
    }
    let found_in = tries
        .iter()
        .filter(|t| t["found"].as_array().is_some_and(|f| !f.is_empty()))
        .count();
    answer(
        StatusCode::OK,
        json!({ "name": name, "saved": true, "tried_on": tries.len(), "found_in": found_in, "tries": tries }),
    )
}

/// The label a reference is tried under when the page names no product.
const TRY_LABEL: &str = "reference";

/// Builds a detector from the image alone and runs it on the thumbnails;
/// the detector's reason when the image cannot be a reference.
fn try_on(
    label: &str,
    name: &str,
    bytes: &[u8],
    thumbnails: &[(u64, u64, PathBuf)],
) -> Result<Vec<Value>, String> {
    let reference = detector::Reference::decode(label, name, bytes).map_err(|e| e.to_string())?;
    let built = detector::BuiltinDetector::new(vec![reference]).map_err(|e| e.to_string())?;
    let mut tries = Vec::new();
    for (seq, at, path) in thumbnails {
        // A thumbnail deleted since (the studio keeps the newest files) is
        // left out, not an error.
        let Ok(frame) = std::fs::read(path) else {
            continue;
        };
        let Ok(gray) = detector::decode(&frame) else {
            continue;
        };
        let found: Vec<Value> = built
            .detect(&gray, 0.0)
            .into_iter()
            .map(|f| {
                json!({
                    "confidence": f.confidence,
                    "bounding_box": { "left": f.bbox.left, "top": f.bbox.top, "width": f.bbox.width, "height": f.bbox.height },
                })
            })
            .collect();
        tries.push(json!({ "seq": seq, "at": at, "found": found }));
    }
    Ok(tries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_or_tiny_image_gets_the_detectors_reason() {
        let flat = image::RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128]));
        let tiny = image::RgbImage::from_pixel(10, 10, image::Rgb([0, 0, 0]));
        for (what, img) in [("flat", flat), ("tiny", tiny)] {
            let mut png = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .expect("png");
            let reason = try_on("mug", "references/x.png", &png, &[]).expect_err(what);
            assert!(
                reason.contains("references/x.png") && reason.contains("mug"),
                "{what}: {reason}"
            );
        }
        let reason = try_on("mug", "references/x.png", b"not an image", &[]).expect_err("garbage");
        assert!(!reason.is_empty());
    }

    #[test]
    fn a_notes_length_is_bounded_and_an_empty_note_gets_the_default() {
        let long = json!({ "note": "x".repeat(500) });
        assert_eq!(note_of(&long, "d").len(), 200);
        assert_eq!(note_of(&json!({ "note": "  " }), "d"), "d");
        assert_eq!(number_of("v12"), Some(12));
        assert_eq!(number_of("bundled"), None);
    }
}
