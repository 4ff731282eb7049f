//! The collector Lambda: players' beacons and tracking links over a Lambda
//! function URL, the rules of [`crate::measure`], counts in DynamoDB and raw
//! events through Kinesis Data Firehose to S3.
//!
//! The business function, [`handle`], takes a plain [`HttpRequest`] and
//! returns an [`HttpResponse`]; [`on_function_url`] only translates the
//! function URL's event. Routes, as the studio's:
//! * `POST /measure/events`: a batch; 200 with what was counted, 400 or 429
//!   with the reason (nothing counted);
//! * `GET /r/{token}`: 302 to the product's catalog link, or 404.
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

use crate::measure::{
    Collector, HourCount, Measure, MeasureReader, MeasureStore, MeasureStoreError, RecordSummary,
    Recorded, ShowCounts,
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
    let now = (service.clock)();
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/measure/events") => {
            let body = request.body.as_deref().unwrap_or("");
            if body.len() > ad_contract::measure::MAX_BATCH_BYTES {
                return HttpResponse::json(
                    400,
                    serde_json::json!({ "error": format!("body is {} bytes; send at most {}", body.len(), ad_contract::measure::MAX_BATCH_BYTES) }),
                );
            }
            let events = match service
                .collector
                .accept_batch(body, &request.user_agent, now)
            {
                Ok(events) => events,
                Err(rejection) => {
                    tracing::info!(reason = %rejection, "events refused");
                    return HttpResponse::json(
                        rejection.status(),
                        serde_json::json!({ "error": rejection.to_string() }),
                    );
                }
            };
            match service.store.record(&events).await {
                Ok(s) => HttpResponse::json(
                    200,
                    serde_json::json!({ "counted": s.counted, "duplicates": s.duplicates, "robots": s.robots }),
                ),
                Err(e) => {
                    tracing::error!(error = %e, "cannot record events");
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
            let Some((location, recorded)) = service.collector.follow_link(
                token,
                viewer,
                &request.source_ip,
                &request.user_agent,
                now,
            ) else {
                return HttpResponse::text(404, "no such link");
            };
            if let Err(e) = service.store.record(std::slice::from_ref(&recorded)).await {
                // The viewer still gets to the product; the count is lost, and logged.
                tracing::error!(error = %e, "cannot record a link");
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
    }
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
                false => summary.duplicates += 1,
                true if e.robot => {
                    summary.robots += 1;
                    new_events.push(e);
                }
                true => {
                    summary.counted += 1;
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
