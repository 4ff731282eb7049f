//! The studio's one HTTP port: HLS playback, the IVS API, the demo catalog
//! and its logos, and a static site (the player) at `/`.

use crate::demo;
use crate::guard::{self, Guard};
use crate::ivs_api::{self, Channels};
use crate::measure_api::{self, Measurement};
use crate::rekognition_api::{self, Rekognition};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::path::PathBuf;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeader;

/// The hosted player's Content-Security-Policy, defined once in
/// `player/web/content-security-policy.txt` (the CDK stack sends the same
/// from CloudFront): the file's directives, comments dropped.
pub fn site_csp() -> String {
    policy_text(include_str!("../../player/web/content-security-policy.txt"))
}

/// A policy file's directives as one header value: one directive per line,
/// blank lines and `#` comments dropped.
pub fn policy_text(file: &str) -> String {
    file.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The site's files, each sent with the policy.
fn site_files(dir: &std::path::Path) -> SetResponseHeader<ServeDir, HeaderValue> {
    // The policy is this crate's own text (a unit test parses it); were it
    // ever unreadable, the strictest policy is the safe fallback.
    let csp = HeaderValue::from_str(&site_csp())
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    SetResponseHeader::overriding(ServeDir::new(dir), header::CONTENT_SECURITY_POLICY, csp)
}

pub fn router(
    channels: Channels,
    site: Option<PathBuf>,
    rekognition: Rekognition,
    guard: Guard,
    measurement: Option<Measurement>,
    console: Option<crate::console_api::Console>,
    recordings: Option<PathBuf>,
) -> Router {
    let api = Router::new()
        .route("/PutMetadata", post(ivs_api::put_metadata))
        .route("/GetChannel", post(ivs_api::get_channel))
        .route("/ListChannels", post(ivs_api::list_channels))
        .route("/GetStream", post(ivs_api::get_stream))
        .route("/api/video/v1/{file}", get(playlist))
        .route("/api/video/v1/{channel}/{segment}", get(segment))
        .with_state(channels.clone());
    // With the console, the demo catalog served is the one in effect (the
    // operator edits it there); players re-read it by its ETag.
    let live = console
        .as_ref()
        .filter(|c| c.catalog_url.is_some())
        .map(|c| c.operator.pipeline.clone());
    // A catalog given with --catalog is served here too, with the images
    // beside it, so the site's players show its cards.
    let catalog_dir = console.as_ref().and_then(|c| c.catalog_dir.clone());
    let demo_routes = Router::new()
        .route(
            "/demo/catalog.json",
            get(move |headers: HeaderMap| demo_catalog(live.clone(), headers)),
        )
        .route(
            "/demo/{*file}",
            get(move |Path(file): Path<String>| demo_file(catalog_dir.clone(), file)),
        );
    // Rekognition's JSON 1.1 API posts to `/`, where the site's index is.
    let no_site_channels = channels.clone();
    let root = match &site {
        Some(dir) => post(rekognition_api::dispatch).fallback_service(site_files(dir)),
        None => post(rekognition_api::dispatch).fallback(move || no_site(no_site_channels.clone())),
    };
    let rekognition_routes = Router::new().route("/", root).with_state(rekognition);
    let mut app = api.merge(demo_routes).merge(rekognition_routes);
    // The recordings, read-only: their list, and their files as a player
    // reads them (VOD playlists, segments, cues.json).
    if let Some(root) = recordings {
        let listed = root.clone();
        app = app
            .route(
                "/recordings.json",
                get(move || {
                    let root = listed.clone();
                    async move {
                        let list =
                            tokio::task::spawn_blocking(move || crate::recorder::listing(&root))
                                .await
                                .unwrap_or_default();
                        typed(
                            "application/json",
                            "no-cache",
                            serde_json::Value::from(list).to_string(),
                        )
                    }
                }),
            )
            .nest_service("/recordings", ServeDir::new(root));
    }
    if let Some(m) = measurement {
        app = app.merge(measure_api::routes(m));
    }
    if let Some(console) = console {
        app = app
            .merge(crate::operator_api::routes(console.operator.clone()))
            .merge(crate::catalog_api::routes(console.desk.clone()))
            .merge(crate::console_api::routes(console));
    }
    let app = match site {
        Some(dir) => app.fallback_service(site_files(&dir)),
        None => app.fallback(move || no_site(channels.clone())),
    };
    // Players on any origin may fetch the stream (unless it is the camera),
    // the catalog and the logos; only the allowed origins may call the API.
    // The guard enforces the same on the requests themselves (see
    // [`guard`]): CORS only decides what a browser lets a page read.
    let cors_guard = guard.clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, parts| {
            let origin = origin.to_str().unwrap_or("");
            if cors_guard.allows_origin(origin) {
                return true;
            }
            let method = match parts.method {
                Method::OPTIONS => parts
                    .headers
                    .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                    .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
                    .unwrap_or(Method::OPTIONS),
                ref m => m.clone(),
            };
            let reading = method == Method::GET || method == Method::HEAD;
            // Beacons come from any embedding page, which reads the answer
            // to know whether to send them again.
            let beacon = method == Method::POST && parts.uri.path() == "/measure/events";
            beacon
                || reading && (cors_guard.open_playback() || !guard::is_playback(parts.uri.path()))
        }))
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers(Any);
    app.layer(cors)
        .layer(axum::middleware::from_fn_with_state(guard, guard::enforce))
}

/// A 200 with its content type and caching rule.
fn typed(content_type: &'static str, cache: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

async fn playlist(State(channels): State<Channels>, Path(file): Path<String>) -> Response {
    let path = format!("/api/video/v1/{file}");
    let Some(channel) = channels.iter().find(|c| c.info.playlist_path() == path) else {
        return (StatusCode::NOT_FOUND, "no such channel playlist").into_response();
    };
    let media = channel.media();
    if media.playlist.latest().is_none() {
        // What IVS answers while a channel is offline; players retry.
        return (StatusCode::NOT_FOUND, "channel is not live yet").into_response();
    }
    let body = media
        .playlist
        .render_with_prefix(&format!("{}/", channel.info.id));
    typed("application/vnd.apple.mpegurl", "no-cache", body)
}

async fn segment(
    State(channels): State<Channels>,
    Path((channel_id, file)): Path<(String, String)>,
) -> Response {
    let sequence = file.strip_suffix(".ts").and_then(|n| n.parse::<u64>().ok());
    let found = channels
        .iter()
        .find(|c| c.info.id == channel_id)
        .zip(sequence)
        .and_then(|(c, n)| c.media().playlist.segment(n).map(|s| s.data.clone()));
    match found {
        Some(data) => typed("video/mp2t", "max-age=60", data),
        None => (StatusCode::NOT_FOUND, "segment not available").into_response(),
    }
}

/// The demo catalog, or with the console the version in effect, under an
/// ETag of its version: a player's re-read of an unchanged catalog is a 304.
async fn demo_catalog(
    live: Option<std::sync::Arc<backend::handlers::Pipeline>>,
    headers: HeaderMap,
) -> Response {
    let Some(pipeline) = live else {
        return typed("application/json", "no-cache", demo::CATALOG_JSON);
    };
    let version = pipeline.catalog.current();
    let etag = format!("\"{}\"", version.version);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        typed("application/json", "no-cache", version.catalog.to_json())
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// An image of the catalog: from the folder of a catalog given with
/// `--catalog`, else the demo's own logos.
async fn demo_file(catalog_dir: Option<PathBuf>, file: String) -> Response {
    let Some(dir) = catalog_dir else {
        return match file.strip_suffix(".png").and_then(demo::logo_png) {
            Some(png) => typed("image/png", "max-age=3600", png),
            None => (StatusCode::NOT_FOUND, "no such demo image").into_response(),
        };
    };
    match catalog_image(&dir, &file).await {
        Some((content_type, bytes)) => typed(content_type, "max-age=60", bytes),
        None => (
            StatusCode::NOT_FOUND,
            "no such image beside the catalog (images only: png, jpg, jpeg, webp, gif)",
        )
            .into_response(),
    }
}

/// The largest catalog image served.
const MAX_CATALOG_IMAGE_BYTES: u64 = 16 << 20;

/// `file` (a relative path, as a catalog names its images) inside `dir`, if
/// it is an image there: no `..`, no absolute path, no link out of the
/// folder, and nothing but images (the folder may hold other files).
pub async fn catalog_image(dir: &std::path::Path, file: &str) -> Option<(&'static str, Vec<u8>)> {
    let safe = !file.is_empty()
        && !file.contains('\\')
        && file
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains(':'));
    if !safe {
        return None;
    }
    let extension = file.rsplit_once('.')?.1.to_ascii_lowercase();
    let content_type = match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => return None,
    };
    let root = tokio::fs::canonicalize(dir).await.ok()?;
    let path = tokio::fs::canonicalize(root.join(file)).await.ok()?;
    if !path.starts_with(&root) {
        return None;
    }
    let meta = tokio::fs::metadata(&path).await.ok()?;
    if !meta.is_file() || meta.len() > MAX_CATALOG_IMAGE_BYTES {
        return None;
    }
    let bytes = tokio::fs::read(&path).await.ok()?;
    Some((content_type, bytes))
}

async fn no_site(channels: Channels) -> Response {
    let urls: String = channels
        .iter()
        .map(|c| format!("<li><code>{}</code></li>", c.info.playback_url()))
        .collect();
    (
        StatusCode::NOT_FOUND,
        Html(format!(
            "<!doctype html><title>IVS studio</title><h1>IVS studio</h1>\
             <p>No site is served here: build the player (<code>player/build.sh</code>) \
             or pass <code>--site DIR</code>.</p><p>Playback:</p><ul>{urls}</ul>"
        )),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_images_inside_the_catalogs_folder_are_served() {
        let dir = std::env::temp_dir().join(format!("catalog-images-{}", std::process::id()));
        let inside = dir.join("shop");
        std::fs::create_dir_all(inside.join("img")).expect("dirs");
        std::fs::write(inside.join("img/mug.PNG"), b"png").expect("write");
        std::fs::write(inside.join("notes.txt"), b"private").expect("write");
        std::fs::write(dir.join("outside.png"), b"outside").expect("write");
        assert_eq!(
            catalog_image(&inside, "img/mug.PNG").await,
            Some(("image/png", b"png".to_vec()))
        );
        for refused in [
            "notes.txt",
            "../outside.png",
            "img/../../outside.png",
            "/etc/hosts",
            "img//mug.PNG",
            "missing.png",
            "",
        ] {
            assert_eq!(catalog_image(&inside, refused).await, None, "{refused}");
        }
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink(dir.join("outside.png"), inside.join("link.png"));
            assert_eq!(
                catalog_image(&inside, "link.png").await,
                None,
                "a link out of the folder"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_site_policy_is_one_valid_header_that_allows_nothing_by_default() {
        let csp = site_csp();
        assert!(HeaderValue::from_str(&csp).is_ok(), "{csp}");
        assert!(csp.starts_with("default-src 'none'; "), "{csp}");
        assert!(
            !csp.contains('#') && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{csp}"
        );
    }
}
