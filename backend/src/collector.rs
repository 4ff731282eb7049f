//! The collector Lambda: players' beacons and tracking links over a Lambda
//! function URL, the rules of [`crate::measure`], counts in DynamoDB and raw
//! events through Kinesis Data Firehose to S3.
//!
//! The business function, [`handle`], takes a plain [`HttpRequest`] and
//! returns an [`HttpResponse`]; [`on_function_url`] only translates the
//! function URL's event. Routes, as the studio's:
//! * `POST /measure/events`: a batch; 200 with each event's outcome
//!   (counted, duplicate, robot, or refused with the reason: the others of
//!   the batch still count), 400 when every event or the batch's frame is
//!   bad, 429 over the viewer's rate ([`crate::measure::batch_answer`]);
//! * `GET /r/{token}`: 302 to the product's catalog link, or 404; a HEAD,
//!   prefetch or preview is answered alike and counts nothing
//!   ([`crate::measure::link_fetch_counts`]).
//!
//! Storage ([`DynamoFirehoseStore`]): one DynamoDB table keyed by `pk`:
//! * `e#<viewer>.<event id>`: the dedupe record of one event, kept two days
//!   (TTL `expires_at`): far past any beacon retry;
//! * `s#<channel>#<product>#<show>`: a show's counters, one number per
//!   measure, and `first_at`;
//! * `h#<hour>#<channel>#<product>`: the same per hour, for the charts.
//!
//! Each event is one `TransactWriteItems`: the dedupe record on the
//! condition that it is new, and both counters' `ADD`. So an event counts
//! once, or not at all, however many copies arrive at once. Robots' events
//! write the dedupe record only. Every new event (robots flagged) then goes
//! to Firehose as one JSON line, for Athena.
//!
//! The collector never reads the counters (its role may not); reports read
//! them with the operator's credentials through [`DynamoCounters`].
//!
//! Each request also prints one CloudWatch embedded-metric-format line
//! ([`RequestMetrics::emf`]): refused and failed batches and lost links are
//! answered, not Lambda errors, so the stack's alarms watch these metrics.

use crate::measure::{
    batch_answer, Collector, HourCount, Measure, MeasureReader, MeasureStore, MeasureStoreError,
    Outcome, RecordSummary, Recorded, ShowCounts,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::HashMap;

/// The parts of an HTTP request the collector reads.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    pub user_agent: String,
    pub source_ip: String,
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
    pub clock: Box<dyn Fn() -> u64 + Send + Sync>,
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
    /// Events refused one by one in a batch that otherwise counted.
    pub refused_events: u64,
    /// Batches refused whole (400, 429).
    pub refused_batches: u64,
    /// Batches that could not be stored (503: the player sends them again).
    pub failed_batches: u64,
    /// Links followed whose count could not be stored.
    pub lost_links: u64,
}

/// The metrics' namespace in CloudWatch; each function's metrics carry its
/// name as the `Function` dimension.
pub const METRICS_NAMESPACE: &str = "IvsAds/Collector";

impl RequestMetrics {
    /// The names as CloudWatch shows them, and each value.
    pub fn named(&self) -> [(&'static str, u64); 7] {
        [
            ("Counted", self.counted),
            ("Duplicates", self.duplicates),
            ("Robots", self.robots),
            ("RefusedEvents", self.refused_events),
            ("RefusedBatches", self.refused_batches),
            ("FailedBatches", self.failed_batches),
            ("LostLinks", self.lost_links),
        ]
    }

    /// One CloudWatch embedded-metric-format line: printed to stdout, Lambda
    /// ships it to the log group and CloudWatch turns it into metrics, with
    /// no API call on the request path.
    pub fn emf(&self, function: &str, now_ms: u64) -> String {
        let named = self.named();
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
            line[name] = serde_json::Value::from(value);
        }
        line.to_string()
    }
}

/// [`handle`], with what the request did for the metrics.
pub async fn handle_measured(
    service: &CollectorService,
    request: &HttpRequest,
) -> (HttpResponse, RequestMetrics) {
    let now = (service.clock)();
    let mut metrics = RequestMetrics::default();
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
                .accept_batch(body, &request.user_agent, now)
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
                    metrics.counted = summary.counted as u64;
                    metrics.duplicates = summary.duplicates as u64;
                    metrics.robots = summary.robots as u64;
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
            let Some((location, recorded)) = service.collector.follow_link(
                token,
                viewer,
                &request.source_ip,
                &request.user_agent,
                now,
            ) else {
                return (HttpResponse::text(404, "no such link"), metrics);
            };
            if !counts {
                tracing::debug!(method = %request.method, purpose = ?request.purpose, "a link fetched, not followed: not counted");
            } else {
                match service.store.record(std::slice::from_ref(&recorded)).await {
                    Ok(summary) => {
                        metrics.counted = summary.counted as u64;
                        metrics.duplicates = summary.duplicates as u64;
                        metrics.robots = summary.robots as u64;
                    }
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

/// The function URL's event, translated for [`handle`].
pub fn from_function_url(
    event: &aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest,
) -> HttpRequest {
    use base64::Engine as _;
    let http = &event.request_context.http;
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
        purpose: crate::measure::PURPOSE_HEADERS.iter().find_map(|name| {
            event
                .headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }),
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

/// How long an event's dedupe record lives.
pub const DEDUPE_SECONDS: u64 = 2 * 86_400;

/// Counts in DynamoDB, raw events to Firehose: the collector's store.
pub struct DynamoFirehoseStore {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub firehose: aws_sdk_firehose::Client,
    pub stream: String,
}

/// The counters table, read: what `adctl report` reads with the operator's
/// credentials (the collector itself never reads counters, so its role may
/// not scan).
pub struct DynamoCounters {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn store_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> MeasureStoreError {
    MeasureStoreError::new(what, e)
}

impl DynamoFirehoseStore {
    fn counters(&self) -> DynamoCounters {
        DynamoCounters {
            dynamodb: self.dynamodb.clone(),
            table: self.table.clone(),
        }
    }

    /// One event, atomically: dedupe record, then (not a robot) both
    /// counters. `false`: seen before.
    async fn record_one(&self, e: &Recorded) -> Result<bool, MeasureStoreError> {
        let dedupe = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("e#{}", e.dedupe_key())))
            .item("expires_at", n(e.at + DEDUPE_SECONDS))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|err| store_error("building the dedupe record", err))?;
        let mut items = vec![TransactWriteItem::builder().put(dedupe).build()];
        if !e.robot {
            let counter = |pk: String| {
                Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(pk))
                    .update_expression(
                        "ADD #m :one SET first_at = if_not_exists(first_at, :at), channel = :ch, product = :p",
                    )
                    .expression_attribute_names("#m", e.measure.as_str())
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":at", n(e.at))
                    .expression_attribute_values(":ch", s(&e.channel))
                    .expression_attribute_values(":p", s(&e.product))
                    .build()
            };
            let per_show = counter(format!("s#{}#{}#{}", e.channel, e.product, e.show))
                .map_err(|err| store_error("building a counter", err))?;
            let per_hour = counter(format!("h#{}#{}#{}", e.hour(), e.channel, e.product))
                .map_err(|err| store_error("building a counter", err))?;
            items.push(TransactWriteItem::builder().update(per_show).build());
            items.push(TransactWriteItem::builder().update(per_hour).build());
        }
        match self
            .dynamodb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) => {
                let duplicate = err
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                        _ => None,
                    })
                    .is_some_and(|c| {
                        c.cancellation_reasons()
                            .first()
                            .and_then(|r| r.code())
                            == Some("ConditionalCheckFailed")
                    });
                if duplicate {
                    Ok(false)
                } else {
                    Err(store_error(
                        "counting an event",
                        aws_sdk_dynamodb::Error::from(err),
                    ))
                }
            }
        }
    }
}

impl DynamoCounters {
    async fn scan_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, MeasureStoreError> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        // A report reads at most this many pages (1 MB each).
        for _ in 0..1000 {
            let out = self
                .dynamodb
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :p)")
                .expression_attribute_values(":p", s(prefix))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    store_error("reading the counters", aws_sdk_dynamodb::Error::from(e))
                })?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
        Ok(items)
    }

    /// Every show's counts, newest show first.
    pub async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
        let mut shows: Vec<ShowCounts> = self
            .scan_prefix("s#")
            .await?
            .iter()
            .map(|item| {
                let pk = text(item, "pk");
                let mut c = ShowCounts {
                    channel: text(item, "channel"),
                    product: text(item, "product"),
                    show: pk
                        .rsplit('#')
                        .next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                    first_at: num(item, "first_at"),
                    ..ShowCounts::default()
                };
                for m in Measure::ALL {
                    c.add(m, num(item, m.as_str()));
                }
                c
            })
            .collect();
        shows.sort_by(|a, b| {
            b.show
                .cmp(&a.show)
                .then_with(|| a.channel.cmp(&b.channel))
                .then_with(|| a.product.cmp(&b.product))
        });
        Ok(shows)
    }

    /// Counts per hour, channel, product and measure, oldest hour first.
    pub async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
        let mut hours = Vec::new();
        for item in self.scan_prefix("h#").await? {
            let pk = text(&item, "pk");
            let hour = pk.split('#').nth(1).unwrap_or("").to_owned();
            for m in Measure::ALL {
                let count = num(&item, m.as_str());
                if count > 0 {
                    hours.push(HourCount {
                        hour: hour.clone(),
                        channel: text(&item, "channel"),
                        product: text(&item, "product"),
                        measure: m,
                        count,
                    });
                }
            }
        }
        hours.sort_by(|a, b| {
            (&a.hour, &a.channel, &a.product, a.measure)
                .cmp(&(&b.hour, &b.channel, &b.product, b.measure))
        });
        Ok(hours)
    }
}

fn num(item: &HashMap<String, AttributeValue>, key: &str) -> u64 {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn text(item: &HashMap<String, AttributeValue>, key: &str) -> String {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[async_trait]
impl MeasureStore for DynamoFirehoseStore {
    async fn record(&self, events: &[Recorded]) -> Result<RecordSummary, MeasureStoreError> {
        let results =
            futures_util::future::join_all(events.iter().map(|e| self.record_one(e))).await;
        let mut summary = RecordSummary::default();
        let mut new_events = Vec::new();
        for (e, result) in events.iter().zip(results) {
            match result? {
                false => summary.add(Outcome::Duplicate),
                true if e.robot => {
                    summary.add(Outcome::Robot);
                    new_events.push(e);
                }
                true => {
                    summary.add(Outcome::Counted);
                    new_events.push(e);
                }
            }
        }
        if !new_events.is_empty() {
            let records = new_events
                .iter()
                .map(|e| {
                    let mut line = serde_json::to_vec(e).unwrap_or_default();
                    line.push(b'\n');
                    aws_sdk_firehose::types::Record::builder()
                        .data(aws_sdk_firehose::primitives::Blob::new(line))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| store_error("building a Firehose record", e))?;
            // The counts are in; a lost raw copy is logged, not failed (the
            // beacon's retry would be a duplicate and never reach here).
            match self
                .firehose
                .put_record_batch()
                .delivery_stream_name(&self.stream)
                .set_records(Some(records))
                .send()
                .await
            {
                Ok(out) if out.failed_put_count() > 0 => {
                    tracing::warn!(
                        failed = out.failed_put_count(),
                        "Firehose refused some raw events"
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_firehose::Error::from(e), "raw events not delivered to Firehose")
                }
            }
        }
        Ok(summary)
    }
}

#[async_trait]
impl MeasureReader for DynamoFirehoseStore {
    async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
        self.counters().shows().await
    }

    async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
        self.counters().hours().await
    }
}

#[async_trait]
impl MeasureReader for DynamoCounters {
    async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
        DynamoCounters::shows(self).await
    }

    async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
        DynamoCounters::hours(self).await
    }
}

/// The collector's settings, from the environment (names in
/// `backend/lambda-env.json`); every problem in one error.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub catalog: ad_contract::Catalog,
    pub signer: crate::measure::ShowSigner,
    pub table: String,
    pub stream: String,
    pub region: String,
}

impl CollectorConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::{
            CATALOG_PATH, MEASUREMENT_KEY, MEASURE_STREAM_NAME, MEASURE_TABLE_NAME,
        };
        let get = |name: &str| crate::config::value_of(&lookup, name);
        let mut problems = Vec::new();
        let mut required = |name: &str, what: &str| {
            get(name).unwrap_or_else(|| {
                problems.push(format!("{name} is not set; set it to {what}"));
                String::new()
            })
        };
        let table = required(MEASURE_TABLE_NAME, "the measurement table's name");
        let stream = required(
            MEASURE_STREAM_NAME,
            "the raw events' Firehose delivery stream",
        );
        let region = required(crate::config::AWS_REGION, "the AWS region, e.g. us-east-1");
        let key = required(
            MEASUREMENT_KEY,
            "the show tags' hex key (the stack sets it)",
        );
        let signer = match crate::measure::ShowSigner::from_hex(&key) {
            Ok(s) => Some(s),
            Err(e) if !key.is_empty() => {
                problems.push(format!("{MEASUREMENT_KEY}: {e}"));
                None
            }
            Err(_) => None,
        };
        let catalog_path = get(CATALOG_PATH).unwrap_or_else(|| {
            format!(
                "{}/catalog.json",
                get("LAMBDA_TASK_ROOT").unwrap_or_else(|| ".".into())
            )
        });
        let catalog = match std::fs::read_to_string(&catalog_path) {
            Err(e) => {
                problems.push(format!("{CATALOG_PATH}: cannot read {catalog_path}: {e}"));
                None
            }
            Ok(text) => match ad_contract::Catalog::from_json(&text) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(format!("{CATALOG_PATH}: {catalog_path}: {e}"));
                    None
                }
            },
        };
        match (catalog, signer) {
            (Some(catalog), Some(signer)) if problems.is_empty() => Ok(Self {
                catalog,
                signer,
                table,
                stream,
                region,
            }),
            _ => Err(crate::config::ConfigError(problems)),
        }
    }
}

/// The wall clock in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ad_contract::measure::{
        EventBatch, EventKind, LinkKind, OpaqueId, TrackingLink, ViewerEvent,
    };
    use ad_contract::{Catalog, ChannelId, ProductId, ShowId, ShowRef};

    /// A store whose every write fails, as DynamoDB does when throttled.
    struct Failing;

    #[async_trait]
    impl MeasureStore for Failing {
        async fn record(&self, _: &[Recorded]) -> Result<RecordSummary, MeasureStoreError> {
            Err(MeasureStoreError::because("throttled"))
        }
    }

    #[async_trait]
    impl MeasureReader for Failing {
        async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
            Err(MeasureStoreError::because("throttled"))
        }
        async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
            Err(MeasureStoreError::because("throttled"))
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
        };
        (service, show)
    }

    const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36";

    #[tokio::test]
    async fn failed_batches_and_lost_links_are_counted_for_the_alarms() {
        let (service, show) = service(Box::new(Failing));
        let body = EventBatch {
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
        let link = TrackingLink {
            kind: LinkKind::Scan,
            show,
        };
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
        assert_eq!(names.len(), 7);
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
