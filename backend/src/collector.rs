//! The collector Lambda: players' beacons and tracking links over a Lambda
//! function URL, the rules of [`crate::measure`], accepted events onto the
//! measurement stream ([`crate::measure_aws::KinesisQueue`]), where the
//! aggregator counts them ([`crate::aggregator`]).
//!
//! The business function, [`handle`], takes a plain [`HttpRequest`] and
//! returns an [`HttpResponse`]; [`from_function_url`] only translates the
//! function URL's event. Routes, as the studio's:
//! * `POST /measure/events`: a batch; 200 with each event's outcome
//!   (queued, robot, or refused with the reason: the others of the batch
//!   still count; the studio answers counted or duplicate at once), 400 when
//!   every event or the batch's frame is bad, 429 over the viewer's rate,
//!   503 when the stream would not take them ([`crate::measure::batch_answer`]);
//! * `GET /r/{token}`: 302 to the product's catalog link, or 404; a HEAD,
//!   prefetch or preview is answered alike and counts nothing
//!   ([`crate::measure::link_fetch_counts`]).
//!
//! The request path writes nothing shared: no counter, no item two viewers
//! touch. The collector never reads the counters (its role may not).
//!
//! Each request also prints one CloudWatch embedded-metric-format line
//! ([`RequestMetrics::emf`]): refused and failed batches and lost links are
//! answered, not Lambda errors, so the stack's alarms watch these metrics.

use crate::measure::{batch_answer, Collector, MeasureStore, RecordSummary};

/// The parts of an HTTP request the collector reads.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    pub user_agent: String,
    /// The address the request came from: CloudFront's, behind it.
    pub source_ip: String,
    /// CloudFront's [`VIEWER_ADDRESS_HEADER`]: the viewer's address and
    /// port, believed only with the [`ORIGIN_VERIFY_HEADER`].
    pub viewer_address: Option<String>,
    /// The [`ORIGIN_VERIFY_HEADER`] CloudFront adds on its way to the
    /// function URL.
    pub origin_verify: Option<String>,
    /// The first of [`crate::measure::PURPOSE_HEADERS`] present: whether a
    /// browser is only prefetching.
    pub purpose: Option<String>,
    pub body: Option<String>,
    /// The IAM principal that signed the request, when the function URL's
    /// auth type is AWS_IAM (Lambda checked the signature and the grant).
    pub iam_caller: Option<String>,
}

/// What the collector answers.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl HttpResponse {
    pub(crate) fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    pub(crate) fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: body.into(),
        }
    }
}

/// Everything [`handle`] needs.
pub struct CollectorService {
    pub collector: Collector,
    pub store: Box<dyn MeasureStore>,
    pub clock: Box<dyn crate::ports::Clock>,
    /// The secret CloudFront sends in [`ORIGIN_VERIFY_HEADER`]. Set (as the
    /// stack sets it), a request without it is refused (403): the function
    /// URL is reachable through the distribution only, and the viewer's
    /// address can be believed. `None` where the collector is its own edge
    /// (tests).
    pub origin_secret: Option<String>,
}

/// The header CloudFront adds with the viewer's address and port
/// (`198.51.100.7:46532`, `2001:db8::1:46532`), when the origin request
/// policy asks for it.
pub const VIEWER_ADDRESS_HEADER: &str = "cloudfront-viewer-address";
/// The custom origin header the distribution adds with the origin secret.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

/// The address of the client behind `request`, as the rate limits and the
/// link dedupe may trust it: with an origin secret, the request must carry
/// it (or it did not come through CloudFront: `Err` with the 403), and the
/// address is CloudFront's viewer address; without one, the connection's.
pub fn client_address(
    origin_secret: Option<&str>,
    request: &HttpRequest,
) -> Result<String, HttpResponse> {
    let Some(secret) = origin_secret else {
        return Ok(request.source_ip.clone());
    };
    if !crate::measure::same_secret(request.origin_verify.as_deref().unwrap_or(""), secret) {
        return Err(HttpResponse::text(
            403,
            "call the collector through the player's CloudFront address, not its function URL",
        ));
    }
    Ok(request
        .viewer_address
        .as_deref()
        .and_then(address_without_port)
        .unwrap_or(&request.source_ip)
        .to_owned())
}

/// `198.51.100.7` of `198.51.100.7:46532`, `2001:db8::1` of
/// `2001:db8::1:46532` (CloudFront writes IPv6 without brackets: the port
/// is after the last colon).
fn address_without_port(value: &str) -> Option<&str> {
    let (address, port) = value.trim().rsplit_once(':')?;
    (!address.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(address)
}

/// One request, start to end. Never panics; every refusal says why.
pub async fn handle(service: &CollectorService, request: &HttpRequest) -> HttpResponse {
    handle_measured(service, request).await.0
}

/// What one request did, for the collector's own CloudWatch metrics: the
/// alarms watch refused and failed batches and lost links, which are
/// answered (400, 429, 503, a 302 without its count) and so never show as
/// Lambda errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestMetrics {
    pub counted: u64,
    pub duplicates: u64,
    pub robots: u64,
    /// Taken for the aggregator to count (AWS).
    pub queued: u64,
    /// Events refused one by one in a batch that otherwise counted.
    pub refused_events: u64,
    /// Batches refused whole (400, 429).
    pub refused_batches: u64,
    /// Batches that could not be stored (503: the player sends them again).
    pub failed_batches: u64,
    /// Links followed whose count could not be stored.
    pub lost_links: u64,
    /// Requests refused for not coming through CloudFront (403).
    pub direct_calls: u64,
}

/// The metrics' namespace in CloudWatch; each function's metrics carry its
/// name as the `Function` dimension.
pub const METRICS_NAMESPACE: &str = "IvsAds/Collector";

impl RequestMetrics {
    /// The names as CloudWatch shows them, and each value.
    pub fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("Counted", self.counted),
            ("Duplicates", self.duplicates),
            ("Robots", self.robots),
            ("Queued", self.queued),
            ("RefusedEvents", self.refused_events),
            ("RefusedBatches", self.refused_batches),
            ("FailedBatches", self.failed_batches),
            ("LostLinks", self.lost_links),
            ("DirectCalls", self.direct_calls),
        ]
    }

    /// What a store did with the events.
    fn add_summary(&mut self, summary: &RecordSummary) {
        self.counted = summary.counted as u64;
        self.duplicates = summary.duplicates as u64;
        self.robots = summary.robots as u64;
        self.queued = summary.queued as u64;
    }

    /// One CloudWatch embedded-metric-format line ([`emf_line`]).
    pub fn emf(&self, function: &str, now_ms: u64) -> String {
        emf_line(function, now_ms, &self.named())
    }
}

/// One CloudWatch embedded-metric-format line of counts in
/// [`METRICS_NAMESPACE`]: printed to stdout, Lambda ships it to the log
/// group and CloudWatch turns it into metrics, with no API call on the
/// request path.
pub fn emf_line(function: &str, now_ms: u64, named: &[(&'static str, u64)]) -> String {
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": named.iter().map(|(name, _)| serde_json::json!({ "Name": name, "Unit": "Count" })).collect::<Vec<_>>(),
            }],
        },
        "Function": function,
    });
    for (name, value) in named {
        line[*name] = serde_json::Value::from(*value);
    }
    line.to_string()
}

/// [`handle`], with what the request did for the metrics.
pub async fn handle_measured(
    service: &CollectorService,
    request: &HttpRequest,
) -> (HttpResponse, RequestMetrics) {
    let (response, metrics) = route(service, request).await;
    (for_any_page(request, response), metrics)
}

async fn route(
    service: &CollectorService,
    request: &HttpRequest,
) -> (HttpResponse, RequestMetrics) {
    let now = service.clock.now();
    let mut metrics = RequestMetrics::default();
    let client = match client_address(service.origin_secret.as_deref(), request) {
        Ok(client) => client,
        Err(refused) => {
            tracing::info!(path = %request.path, "a request not through CloudFront refused");
            metrics.direct_calls = 1;
            return (refused, metrics);
        }
    };
    let response = match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/measure/events") => {
            let body = request.body.as_deref().unwrap_or("");
            if body.len() > ad_contract::measure::MAX_BATCH_BYTES {
                metrics.refused_batches = 1;
                return (
                    HttpResponse::json(
                        400,
                        serde_json::json!({ "error": format!("body is {} bytes; send at most {}", body.len(), ad_contract::measure::MAX_BATCH_BYTES) }),
                    ),
                    metrics,
                );
            }
            let accepted = match service
                .collector
                .accept_batch(body, &client, &request.user_agent, now)
            {
                Ok(accepted) => accepted,
                Err(rejection) => {
                    tracing::info!(reason = %rejection, "events refused");
                    metrics.refused_batches = 1;
                    return (
                        HttpResponse::json(
                            rejection.status(),
                            serde_json::json!({ "error": rejection.to_string() }),
                        ),
                        metrics,
                    );
                }
            };
            if !accepted.refused.is_empty() {
                tracing::info!(refused = ?accepted.refused, "events refused");
            }
            match service.store.record(&accepted.events).await {
                Ok(summary) => {
                    let (status, body) = batch_answer(&accepted, &summary);
                    metrics.add_summary(&summary);
                    if status == 200 {
                        metrics.refused_events = accepted.refused.len() as u64;
                    } else {
                        metrics.refused_batches = 1;
                    }
                    HttpResponse::json(status, body)
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot record events");
                    metrics.failed_batches = 1;
                    HttpResponse::json(
                        503,
                        serde_json::json!({ "error": "the events could not be stored; send them again" }),
                    )
                }
            }
        }
        ("GET" | "HEAD", path) if path.starts_with("/r/") => {
            let token = &path[3..];
            let viewer = request
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("v="));
            let counts = crate::measure::link_fetch_counts(
                &request.method,
                request.purpose.as_deref(),
            );
            let Some(crate::measure::Followed { location, recorded }) =
                service.collector.follow_link(
                    token,
                    viewer,
                    &client,
                    &request.user_agent,
                    now,
                )
            else {
                return (HttpResponse::text(404, "no such link"), metrics);
            };
            if !counts {
                tracing::debug!(method = %request.method, purpose = ?request.purpose, "a link fetched, not followed: not counted");
            } else if let Some(recorded) = recorded {
                match service.store.record(std::slice::from_ref(&recorded)).await {
                    Ok(summary) => metrics.add_summary(&summary),
                    Err(e) => {
                        // The viewer still gets to the product; the count is
                        // lost, logged and counted for the alarm.
                        tracing::error!(error = %e, "cannot record a link");
                        metrics.lost_links = 1;
                    }
                }
            }
            HttpResponse {
                status: 302,
                headers: vec![
                    ("location", location),
                    ("cache-control", "no-store".into()),
                    ("referrer-policy", "no-referrer".into()),
                ],
                body: String::new(),
            }
        }
        (method, path) => {
            HttpResponse::text(404, &format!("no route for {method} {path}; the collector answers POST /measure/events and GET /r/<token>"))
        }
    };
    (response, metrics)
}

/// Beacons come from any embedding page, which reads the answer to know
/// whether to send a batch again: their answers (and only theirs) may be
/// read from any origin. They carry no secret.
fn for_any_page(request: &HttpRequest, mut response: HttpResponse) -> HttpResponse {
    if request.path == "/measure/events" {
        response
            .headers
            .push(("access-control-allow-origin", "*".into()));
    }
    response
}

/// The function URL's event, translated for [`handle`].
pub fn from_function_url(
    event: &aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest,
) -> HttpRequest {
    use base64::Engine as _;
    let http = &event.request_context.http;
    let header = |name: &str| {
        event
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let body = event.body.as_ref().map(|b| {
        if event.is_base64_encoded {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default()
        } else {
            b.clone()
        }
    });
    HttpRequest {
        method: http.method.clone().unwrap_or_default(),
        path: event
            .raw_path
            .clone()
            .or_else(|| http.path.clone())
            .unwrap_or_default(),
        query: event.raw_query_string.clone().unwrap_or_default(),
        user_agent: http.user_agent.clone().unwrap_or_default(),
        source_ip: http.source_ip.clone().unwrap_or_default(),
        viewer_address: header(VIEWER_ADDRESS_HEADER),
        origin_verify: header(ORIGIN_VERIFY_HEADER),
        purpose: crate::measure::PURPOSE_HEADERS
            .iter()
            .find_map(|name| header(name)),
        body,
        iam_caller: event
            .request_context
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone())),
    }
}

/// [`HttpResponse`] as the function URL wants it.
pub fn to_function_url(
    response: HttpResponse,
) -> aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse {
    let mut headers = http::HeaderMap::new();
    for (name, value) in response.headers {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    let mut out =
        aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse::default();
    out.status_code = i64::from(response.status);
    out.headers = headers;
    out.body = Some(response.body);
    out
}

/// Follows the live catalog (`CATALOG_OBJECT`), asked at most every
/// [`crate::live_catalog::CHECK_EVERY_SECONDS`]: beacons and links of a
/// product added since the deploy count, and a removed product's are
/// refused from then on (its counts so far stay in the report). A catalog
/// that cannot be read or used is logged and the last good one stays.
pub async fn follow_catalog(
    collector: &crate::measure::Collector,
    live: &crate::live_catalog::LiveCatalog,
    now: u64,
) {
    match live.poll(now).await {
        Ok(Some(version)) => {
            tracing::info!(version = %version.version, "collector: catalog version in effect");
            collector.set_catalog(version.catalog.clone());
            live.set(version);
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %crate::ports::Chain(&e), "collector: catalog change not taken")
        }
    }
}

/// The collector's settings, from the environment (names in
/// `backend/lambda-env.json`); every problem in one error.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub catalog: ad_contract::Catalog,
    /// `CATALOG_OBJECT` as (bucket, key): the live catalog to follow.
    pub catalog_object: Option<(String, String)>,
    pub signer: crate::measure::ShowSigner,
    /// The measurement stream (Kinesis Data Streams) it appends to.
    pub stream: String,
    pub region: String,
    /// What CloudFront sends in [`ORIGIN_VERIFY_HEADER`] (`ORIGIN_VERIFY`;
    /// the stack keeps it in Secrets Manager); `None`: every caller is
    /// believed (a collector without CloudFront in front).
    pub origin_secret: Option<String>,
}

/// Shortest origin secret accepted.
pub const MIN_ORIGIN_SECRET_LEN: usize = 16;

impl CollectorConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::{CATALOG_PATH, MEASUREMENT_KEY, MEASURE_STREAM_NAME, ORIGIN_VERIFY};
        let mut required = crate::config::Required::new(lookup);
        let stream = required.get(
            MEASURE_STREAM_NAME,
            "the measurement stream's name (Kinesis Data Streams)",
        );
        let region = required.get(crate::config::AWS_REGION, "the AWS region, e.g. us-east-1");
        let key = required.get(
            MEASUREMENT_KEY,
            "the show tags' hex key (the stack sets it)",
        );
        let signer = match crate::measure::ShowSigner::from_hex(&key) {
            Ok(s) => Some(s),
            Err(e) if !key.is_empty() => {
                required.problems.push(format!("{MEASUREMENT_KEY}: {e}"));
                None
            }
            Err(_) => None,
        };
        let catalog_path = required.optional(CATALOG_PATH).unwrap_or_else(|| {
            format!(
                "{}/catalog.json",
                required
                    .optional("LAMBDA_TASK_ROOT")
                    .unwrap_or_else(|| ".".into())
            )
        });
        let catalog = match std::fs::read_to_string(&catalog_path) {
            Err(e) => {
                required
                    .problems
                    .push(format!("{CATALOG_PATH}: cannot read {catalog_path}: {e}"));
                None
            }
            Ok(text) => match ad_contract::Catalog::from_json(&text) {
                Ok(c) => Some(c),
                Err(e) => {
                    required
                        .problems
                        .push(format!("{CATALOG_PATH}: {catalog_path}: {e}"));
                    None
                }
            },
        };
        let catalog_object = required
            .optional(crate::config::CATALOG_OBJECT)
            .and_then(|v| {
                crate::config::parse_catalog_object(&v)
                    .map_err(|problem| required.problems.push(problem))
                    .ok()
            });
        let origin_secret = required.optional(ORIGIN_VERIFY);
        if let Some(secret) = &origin_secret {
            if secret.len() < MIN_ORIGIN_SECRET_LEN {
                required.problems.push(format!("{ORIGIN_VERIFY} is {} characters; give at least {MIN_ORIGIN_SECRET_LEN} random ones (the stack generates it)", secret.len()));
            }
        }
        match (catalog, signer) {
            (Some(catalog), Some(signer)) => required.finish(Self {
                catalog,
                catalog_object,
                signer,
                stream,
                region,
                origin_secret,
            }),
            _ => Err(crate::config::ConfigError(required.problems)),
        }
    }
}

pub use crate::calendar::unix_now;

#[cfg(test)]
mod tests {
    use super::*;
    use ad_contract::measure::{EventBatch, EventKind, LinkKind, OpaqueId, ViewerEvent};
    use ad_contract::{Catalog, ChannelId, ProductId, ShowId, ShowRef};

    /// A store whose every write fails, as a throttled stream does.
    struct Failing;

    #[async_trait::async_trait]
    impl MeasureStore for Failing {
        async fn record(
            &self,
            _: &[crate::measure::Recorded],
        ) -> Result<RecordSummary, crate::measure::MeasureStoreError> {
            Err(crate::measure::MeasureStoreError::because("throttled"))
        }
    }

    fn service(store: Box<dyn MeasureStore>) -> (CollectorService, ShowRef) {
        let catalog = Catalog::from_json(
            r#"{"products":[{"id":"cap","labels":["cap"],"title":"Cap","price":"$1","description":"d","image_url":"https://x.test/c.png","link_url":"https://shop.test/cap","min_confidence":50,"display_seconds":20,"cooldown_seconds":60}]}"#,
        )
        .unwrap();
        let signer = crate::measure::ShowSigner::new(&[7; 32]).unwrap();
        let channel = ChannelId::parse("chan1").unwrap();
        let product = ProductId::parse("cap").unwrap();
        let tag = signer.tag(&channel, &product, ShowId(42));
        let show = ShowRef {
            channel,
            product,
            show: ShowId(42),
            tag,
        };
        let service = CollectorService {
            collector: Collector::new(catalog, signer),
            store,
            clock: Box::new(|| 1_000),
            origin_secret: None,
        };
        (service, show)
    }

    const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36";

    #[tokio::test]
    async fn failed_batches_and_lost_links_are_counted_for_the_alarms() {
        let (service, show) = service(Box::new(Failing));
        let body = EventBatch {
            replay: false,
            viewer: OpaqueId::parse("v1").unwrap(),
            events: vec![ViewerEvent {
                id: OpaqueId::parse("e1").unwrap(),
                kind: EventKind::Impression,
                show: show.clone(),
            }],
        }
        .to_json();
        let (response, metrics) = handle_measured(
            &service,
            &HttpRequest {
                method: "POST".into(),
                path: "/measure/events".into(),
                user_agent: BROWSER.into(),
                body: Some(body),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(response.status, 503);
        assert_eq!(
            metrics,
            RequestMetrics {
                failed_batches: 1,
                ..Default::default()
            }
        );
        let link = crate::measure::ShowSigner::new(&[7; 32]).unwrap().link(
            LinkKind::Scan,
            &show.channel,
            &show.product,
            show.show,
        );
        let (response, metrics) = handle_measured(
            &service,
            &HttpRequest {
                method: "GET".into(),
                path: format!("/r/{}", link.token()),
                user_agent: BROWSER.into(),
                source_ip: "198.51.100.7".into(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(response.status, 302, "the viewer still gets there");
        assert_eq!(metrics.lost_links, 1);
        let (response, metrics) = handle_measured(
            &service,
            &HttpRequest {
                method: "POST".into(),
                path: "/measure/events".into(),
                body: Some("{".into()),
                ..Default::default()
            },
        )
        .await;
        assert_eq!((response.status, metrics.refused_batches), (400, 1));
    }

    #[test]
    fn the_metrics_line_is_cloudwatch_embedded_metric_format() {
        let metrics = RequestMetrics {
            counted: 49,
            refused_events: 1,
            ..Default::default()
        };
        let line: serde_json::Value =
            serde_json::from_str(&metrics.emf("stack-Collector-1", 1_790_000_000_123)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_790_000_000_123u64);
        assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(line["Function"], "stack-Collector-1");
        // Every metric named in the directive is a number at the top level.
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 9);
        for name in names {
            assert!(line[name].is_u64(), "{name}");
        }
        assert_eq!(
            (line["Counted"].as_u64(), line["RefusedEvents"].as_u64()),
            (Some(49), Some(1))
        );
        assert!(!line.to_string().contains('\n'), "one line");
    }
}
