//! The operator's console in the studio: one page that shows the channel
//! as viewers see it (our player), what the detector saw on the latest
//! thumbnails and what the decision core did with each, what is showing and
//! for how long, the live counts, and the audit log; its buttons call the
//! operator's routes ([`crate::operator_api`]).
//!
//! Routes, all behind the studio's token except the page's own files (its
//! token comes in the URL's fragment, which the browser never sends):
//! * `GET /console/`, `/console/console.js`, `/console/console.css`: the
//!   page, under `console/content-security-policy.txt`.
//! * `GET /console/api/view`: everything the page shows, as JSON.
//! * `GET /console/api/thumbnails/{seq}`: a sighting's thumbnail (JPEG),
//!   while the sighting and its file are kept.

use crate::channel::Channel;
use crate::operator_api::Operator;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use backend::measure::MeasureReader;
use backend::sightings::RecentSightings;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

const CONSOLE_HTML: &str = include_str!("../../console/index.html");
const CONSOLE_JS: &str = include_str!("../../console/console.js");
const CONSOLE_CSS: &str = include_str!("../../console/console.css");

/// Sightings kept in memory: 10 minutes at the default 5 s thumbnails.
pub const SIGHTINGS_KEPT: usize = 120;
/// Sightings and audit rows one view carries.
const SIGHTINGS_SHOWN: usize = 24;
const AUDIT_SHOWN: usize = 30;

#[derive(Clone)]
pub struct Console {
    pub operator: Operator,
    /// The catalog's routes ([`crate::catalog_api`]).
    pub desk: crate::catalog_api::CatalogDesk,
    pub sightings: Arc<RecentSightings>,
    pub thumbnails_dir: PathBuf,
    pub channel: Arc<Channel>,
    pub counts: Arc<dyn MeasureReader>,
    /// Where the console's player reads the catalog (`None`: the studio does
    /// not host this catalog, and the player shows no cards).
    pub catalog_url: Option<String>,
    /// The folder of a catalog given with `--catalog`: the images it names
    /// are served beside it, under `/demo/` (`None`: the demo's own).
    pub catalog_dir: Option<PathBuf>,
}

/// The console's policy, defined once in `console/content-security-policy.txt`.
pub fn console_csp() -> String {
    crate::server::policy_text(include_str!("../../console/content-security-policy.txt"))
}

pub fn routes(console: Console) -> Router {
    Router::new()
        .route(
            "/console",
            get(|| async {
                (
                    StatusCode::MOVED_PERMANENTLY,
                    [(header::LOCATION, "/console/")],
                )
            }),
        )
        .route(
            "/console/",
            get(|| async { page("text/html; charset=utf-8", CONSOLE_HTML) }),
        )
        .route(
            "/console/console.js",
            get(|| async { page("text/javascript; charset=utf-8", CONSOLE_JS) }),
        )
        .route(
            "/console/console.css",
            get(|| async { page("text/css; charset=utf-8", CONSOLE_CSS) }),
        )
        .route("/console/api/view", get(view))
        .route("/console/api/thumbnails/{seq}", get(thumbnail))
        .with_state(console)
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    crate::measure_api::page_with_policy(content_type, body, &console_csp())
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "the console needs the token the studio printed: Authorization: Bearer <token>",
    )
        .into_response()
}

/// A JSON answer no cache keeps (the console's and the catalog desk's).
pub(crate) fn no_store_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn view(State(c): State<Console>, headers: HeaderMap) -> Response {
    if !crate::measure_api::bearer_matches(&headers, &c.operator.token) {
        return unauthorised();
    }
    let p = &c.operator.pipeline;
    let arn = c.channel.info.arn();
    let state = match backend::operator::state(p, &arn).await {
        Ok(state) => state,
        Err(e) => {
            return no_store_json(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": backend::ports::Chain(&e).to_string() }),
            )
        }
    };
    let catalog = p.catalog.current();
    let products: Vec<Value> = catalog
        .catalog
        .products()
        .iter()
        .map(|product| {
            json!({
                "id": product.id.as_str(),
                "title": product.title,
                "price": product.price,
                "display_seconds": product.display_seconds,
                "cooldown_seconds": product.cooldown_seconds,
                "min_confidence": product.min_confidence,
            })
        })
        .collect();
    // Live counts per product on this channel, every show summed; a store
    // that cannot be read leaves the counts out and says why.
    let (counts, counts_error) = match c.counts.shows().await {
        Ok(shows) => {
            let mut per_product: BTreeMap<String, [u64; 3]> = BTreeMap::new();
            for show in shows.iter().filter(|s| s.channel == arn) {
                let entry = per_product.entry(show.product.clone()).or_default();
                entry[0] += show.impressions;
                entry[1] += show.scans;
                entry[2] += show.opens;
            }
            let counts: serde_json::Map<String, Value> = per_product
                .into_iter()
                .map(|(id, [impressions, scans, opens])| {
                    (
                        id,
                        json!({ "impressions": impressions, "scans": scans, "opens": opens }),
                    )
                })
                .collect();
            (Value::Object(counts), None)
        }
        Err(e) => (json!({}), Some(e.to_string())),
    };
    let (audit, audit_error) = match c.operator.audit.newest(AUDIT_SHOWN) {
        Ok(rows) => (json!(rows), None),
        Err(e) => (json!([]), Some(backend::ports::Chain(&e).to_string())),
    };
    no_store_json(
        StatusCode::OK,
        json!({
            "channel": arn,
            "playback_url": c.channel.info.playlist_path(),
            "catalog_url": c.catalog_url,
            "catalog_version": catalog.version,
            "republish_seconds": p.rules.republish_seconds,
            "max_active": p.rules.max_active,
            "products": products,
            "state": state,
            "sightings": c.sightings.newest(SIGHTINGS_SHOWN),
            "counts": counts,
            "counts_error": counts_error,
            "audit": audit,
            "audit_error": audit_error,
        }),
    )
}

async fn thumbnail(
    State(c): State<Console>,
    Path(seq): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !crate::measure_api::bearer_matches(&headers, &c.operator.token) {
        return unauthorised();
    }
    // The file is found through the sighting, never from the request: no
    // path the page sends reaches the file system.
    let Some(sighting) = seq.parse::<u64>().ok().and_then(|n| c.sightings.get(n)) else {
        return (
            StatusCode::NOT_FOUND,
            "no such sighting (only the last ones are kept)",
        )
            .into_response();
    };
    if sighting
        .key
        .split('/')
        .any(|part| part == ".." || part.is_empty())
    {
        return (StatusCode::NOT_FOUND, "no such thumbnail").into_response();
    }
    match tokio::fs::read(c.thumbnails_dir.join(&sighting.key)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, max-age=600"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            "this thumbnail's file is gone (the studio keeps --keep-thumbnails files)",
        )
            .into_response(),
    }
}
