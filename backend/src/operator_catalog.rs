//! The operator's catalog actions in the operator function: change the live
//! catalog with no redeploy. The catalog is an S3 object in a versioned
//! bucket (`CATALOG_OBJECT`); every function follows it within a minute
//! ([`crate::live_catalog`]), the players through CloudFront.
//!
//! | action | body | answer |
//! | --- | --- | --- |
//! | `catalog` | `{"catalog": {"products": [...]}}` | `{"version": id}`, or 422 with every problem by product and field |
//! | `catalog-versions` | `{}` | `{"versions": [{id, saved_at, bytes, latest}]}` |
//! | `catalog-restore` | `{"version": id}` | as `catalog`, with that version's text |
//! | `reference` | `{"image": base64, "product": id}` | `{"name": "s3://…"}`, or 422 with the detector's reason |
//!
//! A reference image is checked by building a detector from it alone: an
//! image that cannot work (unreadable, too small, no texture) is refused
//! with the detector's reason and not kept.

use crate::collector::HttpResponse;
use crate::handlers::Pipeline;
use crate::live_catalog::CatalogVersion;
use ad_contract::Catalog;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::Arc;

/// The catalog actions (the channel actions are [`crate::operator_api`]'s).
pub const ACTIONS: [&str; 4] = [
    "catalog",
    "catalog-versions",
    "catalog-restore",
    "reference",
];
/// The largest reference image kept (a logo is tens of KB).
pub const MAX_REFERENCE_BYTES: usize = 4 << 20;
/// The largest body a catalog action reads: a reference image in base64.
pub const MAX_BODY_BYTES: usize = MAX_REFERENCE_BYTES / 3 * 4 + 4096;
const VERSIONS_LISTED: usize = 50;

fn refused(status: u16, action: &str, error: impl Into<String>) -> HttpResponse {
    HttpResponse::json(status, json!({ "error": error.into(), "action": action }))
}

/// One catalog action by `caller`; every change is audited.
pub async fn perform(p: &Pipeline, caller: &str, action: &str, body: &str) -> HttpResponse {
    let Some(history) = p.catalog.history().cloned() else {
        return refused(
            501,
            action,
            "this function keeps no catalog history: deploy with CATALOG_OBJECT set (the stack does)",
        );
    };
    if body.len() > MAX_BODY_BYTES {
        return refused(
            413,
            action,
            format!("body is {} bytes; the most is {MAX_BODY_BYTES}", body.len()),
        );
    }
    let fields = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(fields)) => fields,
        _ => return refused(400, action, "the body must be a JSON object"),
    };
    let now = p.clock.now();
    let answer = match action {
        "catalog" => {
            let text = match fields.get("catalog") {
                Some(Value::String(text)) => text.clone(),
                Some(object @ Value::Object(_)) => object.to_string(),
                _ => {
                    return refused(
                        400,
                        action,
                        "`catalog` is missing; send {\"catalog\": {\"products\": [...]}}",
                    )
                }
            };
            save(p, history.as_ref(), text).await
        }
        "catalog-restore" => {
            let Some(id) = fields.get("version").and_then(Value::as_str) else {
                return refused(
                    400,
                    action,
                    "`version` is missing; `catalog-versions` lists the ids",
                );
            };
            match history.version(id).await {
                Ok(Some(text)) => save(p, history.as_ref(), text).await,
                Ok(None) => refused(
                    404,
                    action,
                    format!("no catalog version {id:?}; `catalog-versions` lists the ids"),
                ),
                Err(e) => refused(503, action, crate::ports::Chain(&e).to_string()),
            }
        }
        "catalog-versions" => match history.versions(VERSIONS_LISTED).await {
            Ok(versions) => HttpResponse::json(200, json!({ "versions": versions })),
            Err(e) => refused(503, action, crate::ports::Chain(&e).to_string()),
        },
        "reference" => reference(history.as_ref(), &fields).await,
        other => refused(400, other, format!("no catalog action {other:?}")),
    };
    if action != "catalog-versions" {
        tracing::info!(
            target: "audit",
            caller = %caller,
            at = now,
            action,
            status = answer.status,
            outcome = %answer.body,
            "operator catalog action"
        );
    }
    answer
}

/// Checks `text` with the contract's reader, saves it, and puts it in
/// effect here at once (the other functions follow within a minute).
async fn save(
    p: &Pipeline,
    history: &dyn crate::live_catalog::CatalogHistory,
    text: String,
) -> HttpResponse {
    let catalog = match Catalog::from_json(&text) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            let problems: Vec<Value> = e
                .problems()
                .iter()
                .map(|p| json!({ "product": p.product, "field": p.field, "message": p.message }))
                .collect();
            return HttpResponse::json(
                422,
                json!({ "error": e.to_string(), "problems": problems, "action": "catalog" }),
            );
        }
    };
    let saved = match history.save(&text).await {
        Ok(saved) => saved,
        Err(e) => return refused(503, "catalog", crate::ports::Chain(&e).to_string()),
    };
    let products = catalog.products().len();
    if let Err(e) = p
        .replace_catalog(CatalogVersion {
            version: saved.etag.clone(),
            catalog,
        })
        .await
    {
        // Saved, and the functions will follow it; this one says why it
        // could not at once.
        tracing::warn!(error = %crate::ports::Chain(&e), "saved catalog not in effect in the operator function");
    }
    HttpResponse::json(
        200,
        json!({ "version": saved.id, "products": products, "at": p.clock.now() }),
    )
}

async fn reference(
    history: &dyn crate::live_catalog::CatalogHistory,
    fields: &serde_json::Map<String, Value>,
) -> HttpResponse {
    let Some(encoded) = fields.get("image").and_then(Value::as_str) else {
        return refused(
            400,
            "reference",
            "`image` is missing; send {\"image\": \"<the image file, base64>\"}",
        );
    };
    let bytes = match base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
        Ok(b) => b,
        Err(e) => return refused(400, "reference", format!("`image` is not base64 ({e})")),
    };
    if bytes.len() > MAX_REFERENCE_BYTES {
        return refused(
            413,
            "reference",
            format!(
                "the image is {} KB; a reference may be up to {} KB",
                bytes.len() / 1024,
                MAX_REFERENCE_BYTES / 1024
            ),
        );
    }
    let label: String = fields
        .get("product")
        .and_then(Value::as_str)
        .unwrap_or("reference")
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let name = crate::live_catalog::reference_name(&bytes);
    let checked = {
        let (label, name, bytes) = (label.clone(), name.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || check_reference(&label, &name, &bytes)).await
    };
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => {
            return HttpResponse::json(
                422,
                json!({ "error": reason, "saved": false, "action": "reference" }),
            )
        }
        Err(e) => return refused(500, "reference", format!("the check stopped: {e}")),
    }
    match history.save_reference(&name, &bytes).await {
        Ok(name) => HttpResponse::json(200, json!({ "name": name, "saved": true })),
        Err(e) => refused(503, "reference", crate::ports::Chain(&e).to_string()),
    }
}

/// Whether the built-in detector can use an image as a reference: it is
/// read and analysed as the detector would; the error is its reason.
pub fn check_reference(label: &str, name: &str, bytes: &[u8]) -> Result<(), String> {
    let reference = detector::Reference::decode(label, name, bytes).map_err(|e| e.to_string())?;
    detector::BuiltinDetector::new(vec![reference])
        .map(|_| ())
        .map_err(|e| e.to_string())
}
