//! The studio's collector, report API and dashboard: the same rules as the
//! collector Lambda (`backend::measure`), over the SQLite store.
//!
//! Routes:
//! * `POST /measure/events`: a player's beacon. Open to every origin, like
//!   any ad collector, and a `text/plain` body is what `sendBeacon` sends:
//!   the guard lets this one call through without the Origin and JSON checks
//!   (see `guard::is_collector`). It can only add checked events.
//!   Answered per event (`backend::measure::batch_answer`): a bad event is
//!   refused with its reason and the others count.
//! * `GET /r/{token}`: a tracking link; counts the scan or click and answers
//!   302 to the product's catalog link, or 404; a HEAD or prefetch is
//!   answered alike and counts nothing.
//! * `GET /measure/report?format=table|csv|json` and `GET /measure/hours`:
//!   the counts, for `adctl report` and the dashboard, with
//!   `Authorization: Bearer <token>` (the token the studio prints).
//! * `GET /dashboard/`: the dashboard page (its token comes in the URL's
//!   fragment, which the browser never sends).

use crate::error::StudioError;
use crate::measure_store::SqliteMeasureStore;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use backend::measure::{
    render_report, Collector, MeasureReader, Rejection, ReportFormat, ShowSigner,
};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The dashboard's files, served as they are in the repository.
const DASHBOARD_HTML: &str = include_str!("../../dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("../../dashboard/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../../dashboard/dashboard.css");
const DASHBOARD_SIGV4_JS: &str = include_str!("../../dashboard/sigv4.js");

#[derive(Clone)]
pub struct Measurement {
    pub collector: Arc<Collector>,
    pub store: Arc<SqliteMeasureStore>,
    /// What `Authorization: Bearer` must carry on the report routes.
    pub report_token: Arc<String>,
}

/// What the studio keeps for measurement, in its private data folder.
pub struct MeasurementFiles {
    pub signer: ShowSigner,
    pub store: SqliteMeasureStore,
    pub report_token: String,
}

/// Opens (creating on first use) the key, the report token and the
/// database in `dir`, which must be private (see
/// `thumbnails::prepare_private_dir`). The key and token are kept, so tags
/// in cues and a bookmarked dashboard survive a restart.
pub fn open_files(dir: &FsPath) -> Result<MeasurementFiles, StudioError> {
    let key_hex = read_or_create_secret(&dir.join("measure.key"), 32)?;
    let signer = ShowSigner::from_hex(&key_hex)
        .map_err(|e| StudioError::failed(dir.join("measure.key").display().to_string(), e))?;
    let report_token = read_or_create_secret(&dir.join("report.token"), 16)?;
    let store = SqliteMeasureStore::open(&dir.join("measure.sqlite3"))
        .map_err(|e| StudioError::failed(dir.join("measure.sqlite3").display().to_string(), e))?;
    Ok(MeasurementFiles {
        signer,
        store,
        report_token,
    })
}

/// A hex secret of `bytes` random bytes in `path` (mode 0600, created
/// without following a symlink).
fn read_or_create_secret(path: &FsPath, bytes: usize) -> Result<String, StudioError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(StudioError::failed(
                format!("cannot read {}", path.display()),
                e,
            ))
        }
    }
    let secret: String = (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| StudioError::failed(format!("cannot create {}", path.display()), e))?;
    file.write_all(secret.as_bytes())
        .map_err(|e| StudioError::failed(format!("cannot write {}", path.display()), e))?;
    Ok(secret)
}

/// The default data folder: `ivs-studio/measure` in the user's cache folder.
pub fn default_dir() -> Result<PathBuf, StudioError> {
    crate::thumbnails::default_dir().map(|thumbnails| {
        thumbnails
            .parent()
            .map(|p| p.join("measure"))
            .unwrap_or_else(|| PathBuf::from("measure"))
    })
}

/// The reports' side: what the dashboard and `adctl report` read, from any
/// store (the studio's SQLite, or the stack's DynamoDB table for
/// `studio-dashboard`), behind the bearer token.
#[derive(Clone)]
pub struct Reports {
    pub reader: Arc<dyn MeasureReader>,
    /// What `Authorization: Bearer` must carry.
    pub token: Arc<String>,
}

/// Every measurement route of the studio: the collector's and the reports'.
pub fn routes(measurement: Measurement) -> Router {
    let reports = Reports {
        reader: measurement.store.clone(),
        token: measurement.report_token.clone(),
    };
    Router::new()
        .route("/measure/events", post(collect))
        .route("/r/{token}", get(follow_link))
        .with_state(measurement)
        .merge(report_routes(reports))
}

/// The report API and the dashboard's files.
pub fn report_routes(reports: Reports) -> Router {
    Router::new()
        .route("/measure/report", get(report))
        .route("/measure/hours", get(hours))
        .route("/dashboard", get(|| async { redirect_to_dashboard() }))
        .route(
            "/dashboard/",
            get(|| async { page("text/html; charset=utf-8", DASHBOARD_HTML) }),
        )
        .route(
            "/dashboard/dashboard.js",
            get(|| async { page("text/javascript; charset=utf-8", DASHBOARD_JS) }),
        )
        .route(
            "/dashboard/dashboard.css",
            get(|| async { page("text/css; charset=utf-8", DASHBOARD_CSS) }),
        )
        .route(
            "/dashboard/sigv4.js",
            get(|| async { page("text/javascript; charset=utf-8", DASHBOARD_SIGV4_JS) }),
        )
        // Here the page uses the report token: no hosted settings (in AWS
        // the stack deploys the report function's URL in this file).
        .route(
            "/dashboard/config.json",
            get(|| async { page("application/json", "{}") }),
        )
        .with_state(reports)
}

fn redirect_to_dashboard() -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, "/dashboard/")],
    )
        .into_response()
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    // The dashboard's own policy: its script and style, and its API.
    page_with_policy(
        content_type,
        body,
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    )
}

/// One of a page's own files (the dashboard's, the console's), never
/// cached stale, sent with the page's Content-Security-Policy and no
/// referrer.
pub fn page_with_policy(content_type: &'static str, body: &'static str, csp: &str) -> Response {
    // The policies are this crate's own text; were one ever unreadable, the
    // strictest policy is the safe fallback.
    let csp = HeaderValue::from_str(csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, csp),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response()
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": message }).to_string(),
    )
        .into_response()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A beacon: checked whole, then recorded. The body is read up to the
/// batch limit and no further.
/// The connection's address: the studio is its own edge (no proxy in
/// front whose headers could be believed).
fn peer_address(parts: &axum::http::request::Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_string())
        .unwrap_or_default()
}

async fn collect(State(m): State<Measurement>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let limit = ad_contract::measure::MAX_BATCH_BYTES;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("body is over {limit} bytes; send at most 50 events a batch"),
            )
        }
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "body is not UTF-8 text; send the batch as JSON",
        );
    };
    let accepted = match m.collector.accept_batch(
        text,
        &peer_address(&parts),
        user_agent(&parts.headers),
        unix_now(),
    ) {
        Ok(accepted) => accepted,
        Err(rejection) => return rejected(&rejection),
    };
    if !accepted.refused.is_empty() {
        tracing::info!(refused = ?accepted.refused, "events refused");
    }
    match m.store.record_now(&accepted.events) {
        Ok(summary) => {
            let (status, body) = backend::measure::batch_answer(&accepted, &summary);
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot record events");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the events could not be stored; send them again",
            )
        }
    }
}

fn rejected(rejection: &Rejection) -> Response {
    tracing::info!(reason = %rejection, "events refused");
    let status = StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_error(status, &rejection.to_string())
}

#[derive(Deserialize)]
struct LinkQuery {
    v: Option<String>,
}

async fn follow_link(
    State(m): State<Measurement>,
    method: axum::http::Method,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    Query(query): Query<LinkQuery>,
    headers: HeaderMap,
) -> Response {
    let followed = m.collector.follow_link(
        &token,
        query.v.as_deref(),
        &peer.ip().to_string(),
        user_agent(&headers),
        unix_now(),
    );
    let Some(backend::measure::Followed { location, recorded }) = followed else {
        return (StatusCode::NOT_FOUND, "no such link").into_response();
    };
    let purpose = backend::measure::PURPOSE_HEADERS
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()));
    if !backend::measure::link_fetch_counts(method.as_str(), purpose) {
        tracing::debug!(%method, ?purpose, "a link fetched, not followed: not counted");
    } else if let Some(Err(e)) = recorded.map(|r| m.store.record_now(std::slice::from_ref(&r))) {
        // The viewer still gets to the product; the count is lost, and said.
        tracing::error!(error = %e, "cannot record a link");
    }
    let Ok(location) = HeaderValue::from_str(&location) else {
        return (StatusCode::NOT_FOUND, "no such link").into_response();
    };
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::REFERRER_POLICY, "no-referrer")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Whether the request carries the report token (compared in constant time).
fn authorised(m: &Reports, headers: &HeaderMap) -> bool {
    bearer_matches(headers, &m.token)
}

/// True when `Authorization: Bearer` carries `token`, compared in constant
/// time (the report's, the console's and the operator's routes).
pub fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .as_bytes();
    let expected = token.as_bytes();
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "the report needs the token the studio printed: Authorization: Bearer <token>",
    )
        .into_response()
}

#[derive(Deserialize)]
struct ReportQuery {
    format: Option<String>,
}

async fn report(
    State(m): State<Reports>,
    Query(query): Query<ReportQuery>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&m, &headers) {
        return unauthorised();
    }
    let format = match ReportFormat::from_query(query.format.as_deref()) {
        Ok(f) => f,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, &why),
    };
    match m.reader.shows().await {
        Ok(shows) => (
            [
                (header::CONTENT_TYPE, format.content_type()),
                (header::CACHE_CONTROL, "no-store"),
            ],
            render_report(&shows, format),
        )
            .into_response(),
        Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

async fn hours(State(m): State<Reports>, headers: HeaderMap) -> Response {
    if !authorised(&m, &headers) {
        return unauthorised();
    }
    match m.reader.hours().await {
        Ok(hours) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            serde_json::to_string(&hours).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}
