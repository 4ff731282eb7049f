//! Who may use the studio. It listens on 127.0.0.1 only, yet any web page
//! open in the operator's browser can still send it requests: a form or a
//! `fetch` with a `text/plain` body needs no CORS preflight, and a hostile
//! DNS name can be rebound to 127.0.0.1 so that the page counts as the same
//! origin. Three checks, on every request, close those doors:
//!
//! 1. **Host** must be a loopback name (`127.0.0.1`, `localhost`, `[::1]`,
//!    any port). A rebound name arrives with its own Host, so DNS rebinding
//!    gets a 403.
//! 2. **Calls** (every method but GET, HEAD and OPTIONS: PutMetadata,
//!    DetectCustomLabels and the other API routes) need a JSON content type,
//!    as the AWS SDKs send, so a browser cannot send one without a preflight;
//!    and when the request names an Origin (browsers always do on a POST), it
//!    must be the studio's own or one given with `--allow-origin`.
//!    SDKs and command-line clients send no Origin and pass.
//! 3. **Playback** (the HLS playlist and segments) is open to every origin,
//!    as IVS's is, unless the picture is the operator's own camera
//!    (`--input rtmp`): then only the allowed origins may read it.
//! 4. **Measurement beacons** (`POST /measure/events`) come from players on
//!    any site, as `text/plain`: they pass the Origin and JSON checks, and
//!    the collector checks every event instead (a show tag made with the
//!    studio's key, a known product, a bounded rate). Tracking links and
//!    the dashboard are GETs; the report routes need the printed token.
//!
//! Refusals are JSON in the shape both SDKs parse (`__type` with `message`
//! and `Message`), with the reason and the fix.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Guard {
    origins: Arc<Vec<String>>,
    open_playback: bool,
}

impl Guard {
    /// The studio on `port`, its own origins plus `extra` (each
    /// `scheme://host[:port]`, no trailing slash). `open_playback`: whether
    /// any origin may read the stream.
    pub fn new(port: u16, extra: &[String], open_playback: bool) -> Self {
        let mut origins: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|h| format!("http://{h}:{port}"))
            .collect();
        origins.extend(extra.iter().map(|o| o.trim_end_matches('/').to_owned()));
        Self {
            origins: Arc::new(origins),
            open_playback,
        }
    }

    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    pub fn open_playback(&self) -> bool {
        self.open_playback
    }
}

/// Checks an `--allow-origin` value: `http(s)://host[:port]`, nothing more.
pub fn parse_origin(value: &str) -> Result<String, crate::error::StudioError> {
    let v = value.trim_end_matches('/');
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or_else(|| format!("--allow-origin {value:?}: an origin starts with http:// or https://, e.g. http://localhost:3000"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "--allow-origin {value:?}: an origin is a scheme, a host and an optional port only, e.g. http://localhost:3000"
        )
        .into());
    }
    Ok(v.to_owned())
}

/// True when `host` (a Host header: name and optional port) names this
/// machine's loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        match rest.split_once(']') {
            Some((addr, tail)) if tail.is_empty() || tail.starts_with(':') => addr,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// JSON as the AWS SDKs send it: `application/json` (IVS, REST-JSON) or
/// `application/x-amz-json-1.0/1.1` (Rekognition), parameters allowed.
pub fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.starts_with("application/x-amz-json-")
}

fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    let body = serde_json::json!({"__type": code, "message": message, "Message": message});
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::HeaderName::from_static("x-amzn-errortype"),
                code.to_owned(),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a request is a player's measurement beacon: the one call any
/// origin may make, with the `text/plain` body `sendBeacon` sends. It can
/// only add events the collector checked (see `measure_api`).
pub fn is_collector(method: &Method, path: &str) -> bool {
    *method == Method::POST && path == "/measure/events"
}

/// Whether a path serves the stream (playlist or segments).
pub fn is_playback(path: &str) -> bool {
    path.starts_with("/api/video/")
}

/// The decision, apart from axum, so it can be tested directly: `None` lets
/// the request through.
pub fn check(guard: &Guard, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
    let host = header_str(headers, header::HOST).unwrap_or("");
    if !is_loopback_host(host) {
        tracing::warn!(host, path, "refused: Host is not a loopback name");
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            format!("Host {host:?} is not this machine: the studio answers requests to 127.0.0.1, localhost or [::1] only"),
        ));
    }
    let origin = header_str(headers, header::ORIGIN);
    let foreign = origin.filter(|o| !guard.allows_origin(o));
    let reading = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if reading {
        if let (Some(origin), false, true) = (foreign, guard.open_playback, is_playback(path)) {
            tracing::warn!(origin, path, "refused: the camera stream to another origin");
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                format!("origin {origin} may not read this stream: it is the operator's own camera (--input rtmp); start the studio with --allow-origin {origin} to let that page play it"),
            ));
        }
        return None;
    }
    if is_collector(method, path) {
        return None;
    }
    if let Some(origin) = foreign {
        tracing::warn!(origin, path, "refused: a call from another origin");
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            format!("origin {origin} may not call the studio's API; start the studio with --allow-origin {origin} if that page is yours"),
        ));
    }
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("");
    if !is_json_content_type(content_type) {
        return Some(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "ValidationException",
            format!("Content-Type {content_type:?} is not accepted: send the call as application/json (IVS) or application/x-amz-json-1.1 (Rekognition), as the AWS SDKs do"),
        ));
    }
    None
}

/// The middleware: every request passes [`check`] first.
pub async fn enforce(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match check(
        &guard,
        request.method(),
        request.uri().path(),
        request.headers(),
    ) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn only_loopback_hosts_pass() {
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.0.0.1",
            "127.1.2.3:1",
            "localhost.:80",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil.example:8080",
            "[::2]:80",
            "0.0.0.0:8080",
            "192.168.1.2",
            "[::1]x",
            "localhost:80x",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn json_content_types_only() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/x-amz-json-1.1",
            "Application/JSON",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn calls_from_other_origins_or_without_json_are_refused() {
        let guard = Guard::new(8080, &["http://localhost:3000".to_owned()], true);
        let post = Method::POST;
        let status = |h: &[(&'static str, &str)]| {
            check(&guard, &post, "/PutMetadata", &headers(h)).map(|r| r.status())
        };
        let host = ("host", "127.0.0.1:8080");
        let json = ("content-type", "application/json");
        // An SDK: no Origin.
        assert_eq!(status(&[host, json]), None);
        // The studio's own page, and a configured one.
        assert_eq!(
            status(&[host, json, ("origin", "http://127.0.0.1:8080")]),
            None
        );
        assert_eq!(
            status(&[host, json, ("origin", "http://localhost:3000")]),
            None
        );
        // A page elsewhere, even with a JSON body.
        assert_eq!(
            status(&[host, json, ("origin", "https://evil.example")]),
            Some(StatusCode::FORBIDDEN)
        );
        // The same port on another scheme or host is another origin.
        assert_eq!(
            status(&[host, json, ("origin", "http://127.0.0.1:8081")]),
            Some(StatusCode::FORBIDDEN)
        );
        // No preflight-free content types.
        assert_eq!(
            status(&[host, ("content-type", "text/plain")]),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(status(&[host]), Some(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        // DNS rebinding: the page's own name in Host.
        assert_eq!(
            status(&[("host", "rebind.evil.example:8080"), json]),
            Some(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn playback_is_open_unless_it_is_the_camera() {
        let h = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://viewer.example"),
        ]);
        let open = Guard::new(8080, &[], true);
        let camera = Guard::new(8080, &[], false);
        let path = "/api/video/v1/x.m3u8";
        assert!(check(&open, &Method::GET, path, &h).is_none());
        assert_eq!(
            check(&camera, &Method::GET, path, &h).map(|r| r.status()),
            Some(StatusCode::FORBIDDEN)
        );
        // The player page and the demo catalog stay readable.
        assert!(check(&camera, &Method::GET, "/demo/catalog.json", &h).is_none());
        let own = headers(&[
            ("host", "localhost:8080"),
            ("origin", "http://localhost:8080"),
        ]);
        assert!(check(&camera, &Method::GET, path, &own).is_none());
    }

    #[test]
    fn allowed_origins_are_checked_when_given() {
        assert_eq!(
            parse_origin("http://localhost:3000/").ok(),
            Some("http://localhost:3000".to_owned())
        );
        assert!(parse_origin("localhost:3000").is_err());
        assert!(parse_origin("http://a.example/path").is_err());
        assert!(parse_origin("https://").is_err());
    }
}
