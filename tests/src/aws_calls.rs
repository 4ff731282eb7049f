//! Which AWS calls each function makes, recorded over the wire, for the
//! permissions check.
//!
//! moto does not enforce IAM, so a call the stack never granted passes every
//! over-the-wire test and is denied in AWS. [`RecordingProxy`] sits in front
//! of moto and the stand-in: every SDK client of the code under test points
//! at it, with the *access key id* set to the role it plays (`on-thumbnail`,
//! `on-tick`, ...). For each request it records `(role, IAM action, resource
//! ARN)` and forwards it unchanged. moto's Step Functions engine invokes
//! Lambda through it too (as the role `workflow`).
//!
//! The recorded set, with test-specific names replaced by placeholders
//! ([`normalize_resource`]), must equal the reviewed list in
//! `tests/aws-calls.json`. `infra/test/permissions.test.ts` then checks that
//! list against the synthesized stack in both directions: every call is
//! allowed by the role's policy, evaluated as IAM evaluates it, and every
//! grant is used by some call. Together: a new call without a grant, or a
//! grant without a call, fails the README's test command.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use test_support::{ACCOUNT, REGION};
use tokio::sync::oneshot;

/// The roles whose calls the stack must grant. Other callers (the test
/// harness setting up tables and buckets, the operator's `adctl`, which runs
/// with the operator's own credentials) are recorded but not checked; the
/// operator function's role is the stack's, and is.
pub const CHECKED_ROLES: [&str; 8] = [
    "on-thumbnail",
    "on-thumbnail-builtin",
    "on-tick",
    "operator-function",
    "workflow",
    "collector",
    "aggregator",
    "report",
];

/// The measurement table's name in the tests (`{measure_table}` in the
/// reviewed list).
pub const MEASURE_TABLE: &str = "ad-measure";
/// The measurement stream's name in the tests (Kinesis; `{measure_events}`).
pub const MEASURE_EVENTS: &str = "ad-measure-queue";

/// The secrets' names in the tests (`{measurement_key}`, `{origin_verify}`).
pub const MEASUREMENT_KEY_SECRET: &str = "ad-measurement-key";
pub const ORIGIN_VERIFY_SECRET: &str = "ad-origin-verify";

/// Where the reviewed list lives.
pub fn reviewed_list_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("aws-calls.json")
}

/// One AWS call: who made it, the IAM action, and the resource it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AwsCall {
    pub role: String,
    pub action: String,
    pub resource: String,
}

/// Faults a proxy injects in front of moto, which models neither
/// throttling nor DynamoDB's per-item limit.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// This share of DynamoDB and Kinesis calls is answered as throttled
    /// (`ThrottlingException`, `ProvisionedThroughputExceededException`),
    /// spread evenly and the same on every run.
    pub throttled_share: f64,
    /// Writes an item takes in one wall-clock second; more are answered
    /// `ProvisionedThroughputExceededException`, as DynamoDB does past
    /// 1,000 write units a second on one item.
    pub item_writes_a_second: u64,
}

/// What the calls through a faulty proxy cost and touched: the load test's
/// figures come from here.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Calls forwarded, per action.
    pub calls: BTreeMap<String, u64>,
    /// Calls answered as throttled.
    pub throttled: u64,
    /// Kinesis records put, and their 1 KB units (on-demand ingest billing).
    pub kinesis_records: u64,
    pub kinesis_kb_units: u64,
    /// Firehose records put, their 5 KB units (Firehose's billing) and bytes.
    pub firehose_records: u64,
    pub firehose_5kb_units: u64,
    pub firehose_bytes: u64,
    /// Items written by BatchWriteItem and keys read by BatchGetItem
    /// (strongly consistent: a read unit each).
    pub batch_items_written: u64,
    pub batch_keys_read: u64,
    /// Writes forwarded per DynamoDB item (`pk`).
    pub writes_per_item: HashMap<String, u64>,
    /// The most writes any one item took in one wall-clock second.
    pub max_item_writes_a_second: u64,
    per_second: HashMap<(String, u64), u64>,
}

#[derive(Clone)]
struct Upstreams {
    moto: Arc<OnceLock<String>>,
    standin: String,
    calls: Arc<Mutex<BTreeSet<AwsCall>>>,
    client: Client<HttpConnector, Full<Bytes>>,
    faults: Option<Faults>,
    ledger: Arc<Mutex<Ledger>>,
    seen: Arc<std::sync::atomic::AtomicU64>,
}

/// A forwarding proxy on 127.0.0.1 that records each call. Stops when dropped.
pub struct RecordingProxy {
    pub url: String,
    pub port: u16,
    upstreams: Upstreams,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl RecordingProxy {
    /// Starts the proxy; IVS, Rekognition and Lambda go to `standin_url`,
    /// the rest to moto once [`RecordingProxy::set_moto`] names it (moto
    /// must know the proxy's port first, to invoke Lambda through it).
    pub async fn start(standin_url: &str) -> anyhow::Result<Self> {
        Self::start_with(standin_url, None).await
    }

    /// [`RecordingProxy::start`], injecting `faults` and keeping a
    /// [`Ledger`].
    pub async fn start_with_faults(standin_url: &str, faults: Faults) -> anyhow::Result<Self> {
        Self::start_with(standin_url, Some(faults)).await
    }

    async fn start_with(standin_url: &str, faults: Option<Faults>) -> anyhow::Result<Self> {
        let upstreams = Upstreams {
            moto: Arc::new(OnceLock::new()),
            standin: standin_url.to_string(),
            calls: Arc::default(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            faults,
            ledger: Arc::default(),
            seen: Arc::default(),
        };
        let app = Router::new()
            .fallback(forward)
            .with_state(upstreams.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            upstreams,
            stop: Some(stop),
        })
    }

    pub fn set_moto(&self, moto_url: &str) {
        let _ = self.upstreams.moto.set(moto_url.to_string());
    }

    /// The ledger so far (empty without faults).
    pub fn ledger(&self) -> Ledger {
        self.upstreams
            .ledger
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Every call recorded so far, normalized, sorted, each once.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.upstreams
            .calls
            .lock()
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }
}

async fn forward(State(up): State<Upstreams>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let (role, service) = signer(&parts.headers, parts.uri.path());
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    if let Some((action, resource)) = action_and_resource(
        &service,
        &parts.method,
        &parts.headers,
        &path_and_query,
        &body,
    ) {
        let implied = implied_reads(&action, &body);
        if let Ok(mut calls) = up.calls.lock() {
            for (action, resource) in std::iter::once((action, resource)).chain(implied) {
                calls.insert(AwsCall {
                    role: role.clone(),
                    action,
                    resource: normalize_resource(&resource),
                });
            }
        }
    }
    if let Some(faults) = up.faults {
        if let Some(throttled) = inject(&up, faults, &service, &parts.headers, &body) {
            return throttled;
        }
    }
    let base = match service.as_str() {
        "ivs" | "rekognition" | "lambda" => up.standin.clone(),
        _ => match up.moto.get() {
            Some(moto) => moto.clone(),
            None => return (StatusCode::BAD_GATEWAY, "moto not started").into_response(),
        },
    };
    let mut upstream = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(format!("{base}{path_and_query}"));
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "connection" | "transfer-encoding" | "content-length"
        ) {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(upstream) = upstream.body(Full::new(body)) else {
        return (StatusCode::BAD_REQUEST, "cannot forward").into_response();
    };
    match up.client.request(upstream).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            match body.collect().await {
                Ok(body) => Response::from_parts(parts, Body::from(body.to_bytes())),
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// A throttled answer for this call, or `None` (then it is metered).
fn inject(
    up: &Upstreams,
    faults: Faults,
    service: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split('.').nth(1))
        .unwrap_or("")
        .to_string();
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut ledger = up.ledger.lock().ok()?;
    let throttle = |ledger: &mut Ledger, kind: &str| {
        ledger.throttled += 1;
        let (content_type, code) = match service {
            "dynamodb" => (
                "application/x-amz-json-1.0",
                format!("com.amazonaws.dynamodb.v20120810#{kind}"),
            ),
            _ => ("application/x-amz-json-1.1", kind.to_string()),
        };
        Some(
            (
                StatusCode::BAD_REQUEST,
                [("content-type", content_type)],
                serde_json::json!({ "__type": code, "message": "injected by the test proxy" })
                    .to_string(),
            )
                .into_response(),
        )
    };
    if matches!(service, "dynamodb" | "kinesis") {
        // The golden ratio's multiples spread the throttled calls evenly.
        let n = up.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if (n as f64 * 0.618_033_988_75).fract() < faults.throttled_share {
            return throttle(
                &mut ledger,
                if service == "dynamodb" {
                    "ThrottlingException"
                } else {
                    "ProvisionedThroughputExceededException"
                },
            );
        }
    }
    if service == "dynamodb" && matches!(target.as_str(), "PutItem" | "UpdateItem") {
        let item = json["Item"]["pk"]["S"]
            .as_str()
            .or_else(|| json["Key"]["pk"]["S"].as_str())
            .unwrap_or("")
            .to_string();
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let in_second = ledger.per_second.entry((item.clone(), second)).or_default();
        if *in_second >= faults.item_writes_a_second {
            return throttle(&mut ledger, "ProvisionedThroughputExceededException");
        }
        *in_second += 1;
        let in_second = *in_second;
        ledger.max_item_writes_a_second = ledger.max_item_writes_a_second.max(in_second);
        *ledger.writes_per_item.entry(item).or_default() += 1;
    }
    let records = json["Records"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    // A record's size: its data (base64 on the wire) and partition key.
    let size = |r: &Value| {
        r["Data"].as_str().map_or(0, |d| d.len() as u64 * 3 / 4)
            + r["PartitionKey"].as_str().map_or(0, |k| k.len() as u64)
    };
    match (service, target.as_str()) {
        ("kinesis", "PutRecords") => {
            ledger.kinesis_records += records.len() as u64;
            ledger.kinesis_kb_units += records.iter().map(|r| size(r).div_ceil(1024)).sum::<u64>();
        }
        ("dynamodb", "BatchWriteItem" | "BatchGetItem") => {
            for requests in json["RequestItems"]
                .as_object()
                .into_iter()
                .flat_map(|t| t.values())
            {
                if target == "BatchWriteItem" {
                    ledger.batch_items_written += requests.as_array().map_or(0, |r| r.len() as u64);
                } else {
                    ledger.batch_keys_read +=
                        requests["Keys"].as_array().map_or(0, |k| k.len() as u64);
                }
            }
        }
        ("firehose", "PutRecordBatch") => {
            ledger.firehose_records += records.len() as u64;
            ledger.firehose_bytes += records.iter().map(size).sum::<u64>();
            ledger.firehose_5kb_units +=
                records.iter().map(|r| size(r).div_ceil(5120)).sum::<u64>();
        }
        _ => {}
    }
    *ledger
        .calls
        .entry(format!("{service}:{target}"))
        .or_default() += 1;
    None
}

/// The role (the access key id) and the service from the SigV4
/// `Authorization` header. moto's Lambda invocations are the workflow's.
fn signer(headers: &HeaderMap, path: &str) -> (String, String) {
    if path.starts_with("/2015-03-31/functions/") {
        return ("workflow".into(), "lambda".into());
    }
    let credential = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split(',').next())
        .unwrap_or("");
    // <access key id>/<date>/<region>/<service>/aws4_request
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, _, _, service, _] => (key.to_string(), service.to_string()),
        _ => ("unsigned".into(), "unknown".into()),
    }
}

/// The IAM action and the resource ARN a request needs, from the wire.
fn action_and_resource(
    service: &str,
    method: &Method,
    headers: &HeaderMap,
    path_and_query: &str,
    body: &[u8],
) -> Option<(String, String)> {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| json[name].as_str().unwrap_or("*").to_string();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split('.').nth(1));
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    match service {
        // A transaction needs the permission of each write in it, on its
        // table; the first is returned here, the rest by `implied_reads`.
        "dynamodb" if target == Some("TransactWriteItems") => {
            transaction_actions(&json).into_iter().next()
        }
        "secretsmanager" => Some((format!("secretsmanager:{}", target?), field("SecretId"))),
        "firehose" => Some((
            format!("firehose:{}", target?),
            format!(
                "arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{}",
                field("DeliveryStreamName")
            ),
        )),
        // A batch names its table in RequestItems (ours use one table).
        "dynamodb" if matches!(target, Some("BatchGetItem" | "BatchWriteItem")) => Some((
            format!("dynamodb:{}", target?),
            format!(
                "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}",
                json["RequestItems"]
                    .as_object()
                    .and_then(|tables| tables.keys().next())
                    .map_or("*", String::as_str)
            ),
        )),
        // A read of an index needs the grant on the index.
        "dynamodb" => Some((
            format!("dynamodb:{}", target?),
            match json["IndexName"].as_str() {
                Some(index) => format!(
                    "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}/index/{index}",
                    field("TableName")
                ),
                None => format!(
                    "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}",
                    field("TableName")
                ),
            },
        )),
        "kinesis" => Some((
            format!("kinesis:{}", target?),
            match json["StreamARN"].as_str() {
                Some(arn) => arn.to_string(),
                None => format!(
                    "arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{}",
                    field("StreamName")
                ),
            },
        )),
        "states" => {
            let op = target?;
            let resource = match op {
                "DescribeExecution" | "StopExecution" => field("executionArn"),
                _ => field("stateMachineArn"),
            };
            Some((format!("states:{op}"), resource))
        }
        "rekognition" => {
            let op = target?;
            Some((format!("rekognition:{op}"), field("ProjectVersionArn")))
        }
        "ivs" => {
            let op = path.trim_start_matches('/');
            Some((format!("ivs:{op}"), field("channelArn")))
        }
        "lambda" => {
            let name = path
                .trim_start_matches("/2015-03-31/functions/")
                .trim_end_matches("/invocations");
            let name = percent_decode(name);
            let arn = if name.starts_with("arn:") {
                name
            } else {
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
            };
            Some(("lambda:InvokeFunction".into(), arn))
        }
        "s3" => {
            let object = path.trim_start_matches('/');
            let (bucket, key) = object.split_once('/').unwrap_or((object, ""));
            let bucket_level = key.is_empty();
            let action = match (method.as_str(), bucket_level) {
                // A version's read is its own action in IAM.
                ("GET" | "HEAD", false) if query.contains("versionId=") => "s3:GetObjectVersion",
                ("GET" | "HEAD", false) => "s3:GetObject",
                ("PUT", false) => "s3:PutObject",
                ("DELETE", false) => "s3:DeleteObject",
                ("GET", true) if query.contains("versions") => "s3:ListBucketVersions",
                ("GET", true) if query.contains("list-type") || query.is_empty() => "s3:ListBucket",
                ("PUT", true) => "s3:CreateBucket",
                _ => "s3:Other",
            };
            let resource = if bucket_level {
                format!("arn:aws:s3:::{bucket}")
            } else {
                format!("arn:aws:s3:::{bucket}/{}", percent_decode(key))
            };
            Some((action.into(), resource))
        }
        _ => None,
    }
}

/// What a call makes AWS do with the caller's own permissions: Rekognition
/// reads an `S3Object` image as the caller (forward access), so the role
/// needs `s3:GetObject` on it although the function never calls S3.
fn implied_reads(action: &str, body: &[u8]) -> Vec<(String, String)> {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if (action == "dynamodb:PutItem" || action == "dynamodb:UpdateItem")
        && json.get("TransactItems").is_some()
    {
        return transaction_actions(&json).into_iter().skip(1).collect();
    }
    let object = &json["Image"]["S3Object"];
    match (action, object["Bucket"].as_str(), object["Name"].as_str()) {
        (a, Some(bucket), Some(key)) if a.starts_with("rekognition:") => {
            vec![(
                "s3:GetObject".into(),
                format!("arn:aws:s3:::{bucket}/{key}"),
            )]
        }
        _ => Vec::new(),
    }
}

/// The IAM actions a `TransactWriteItems` needs: one per kind of write, on
/// its table (IAM has no action for the transaction itself).
fn transaction_actions(json: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for item in json["TransactItems"].as_array().into_iter().flatten() {
        for (kind, action) in [
            ("Put", "dynamodb:PutItem"),
            ("Update", "dynamodb:UpdateItem"),
            ("Delete", "dynamodb:DeleteItem"),
            ("ConditionCheck", "dynamodb:ConditionCheckItem"),
        ] {
            if let Some(table) = item[kind]["TableName"].as_str() {
                let call = (
                    action.to_string(),
                    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"),
                );
                if !out.contains(&call) {
                    out.push(call);
                }
            }
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Replaces the names the tests chose with placeholders that
/// `infra/test/permissions.test.ts` binds to the stack's own resources:
/// `{table}` (the state table), `{recordings}` (IVS's bucket), `{channel}`,
/// `{recording}` and `{thumbnail}` (IVS's key layout), `{state_machine}`
/// and `{tick_function}`. Names the stack takes from its settings (the
/// Rekognition model's ARN, `s3://` reference images) stay literal: the
/// permissions test gives the stack the same ones.
pub fn normalize_resource(arn: &str) -> String {
    let table = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/");
    let channel = format!("arn:aws:ivs:{REGION}:{ACCOUNT}:channel/");
    let machine = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:");
    let function = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:");
    if let Some(name) = arn.strip_prefix(&table) {
        let (name, index) = name
            .split_once("/index/")
            .map_or((name, None), |(t, i)| (t, Some(i)));
        let placeholder = match name {
            "*" => "*",
            MEASURE_TABLE => "{measure_table}",
            _ => "{table}",
        };
        return match index {
            Some(index) => format!("{table}{placeholder}/index/{index}"),
            None => format!("{table}{placeholder}"),
        };
    }
    // moto's secret ARNs end in a random suffix: the name says which.
    let secret = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:");
    if let Some(name) = arn.strip_prefix(&secret) {
        if name.starts_with(MEASUREMENT_KEY_SECRET) {
            return "{measurement_key}".into();
        }
        if name.starts_with(ORIGIN_VERIFY_SECRET) {
            return "{origin_verify}".into();
        }
    }
    let events = format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/");
    if arn.starts_with(&events) {
        return format!("{events}{{measure_events}}");
    }
    let stream = format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/");
    if arn.starts_with(&stream) {
        return format!("{stream}{{measure_stream}}");
    }
    if arn.starts_with(&channel) {
        return format!("{channel}{{channel}}");
    }
    if arn.starts_with(&machine) {
        return format!("{machine}{{state_machine}}");
    }
    if arn.starts_with(&function) {
        return format!("{function}{{tick_function}}");
    }
    // The live catalog's bucket; its reference images are named by content.
    if arn == "arn:aws:s3:::ad-catalog" {
        return "arn:aws:s3:::{catalog}".into();
    }
    if let Some(key) = arn.strip_prefix("arn:aws:s3:::ad-catalog/") {
        return match key.strip_prefix("references/") {
            Some(_) => "arn:aws:s3:::{catalog}/references/{reference}".into(),
            None => format!("arn:aws:s3:::{{catalog}}/{key}"),
        };
    }
    if let Some(key) = arn.strip_prefix("arn:aws:s3:::ivs-recordings/") {
        // ivs/v1/<account>/<channel>/<y>/<m>/<d>/<h>/<min>/<recording>/<file in it>
        let segments: Vec<&str> = key.split('/').collect();
        if segments.len() >= 12 && segments[..2] == ["ivs", "v1"] {
            let file = match &segments[10..] {
                ["media", "thumbnails", _] => "media/thumbnails/{thumbnail}.jpg".to_owned(),
                rest => rest.join("/"),
            };
            let layout = segments[..3]
                .iter()
                .copied()
                .chain(["{channel}"])
                .chain(segments[4..9].iter().copied())
                .chain(["{recording}", file.as_str()])
                .collect::<Vec<_>>()
                .join("/");
            return format!("arn:aws:s3:::{{recordings}}/{layout}");
        }
        // The replay's cue log: cue-log/<channel>/<ms>-<seq>.json, and
        // cue-log/catalogs/<version in hex>.json.
        if let Some(rest) = key.strip_prefix("cue-log/") {
            return match rest.split_once('/') {
                Some(("catalogs", _)) => {
                    "arn:aws:s3:::{recordings}/cue-log/catalogs/{catalog_version}.json".into()
                }
                Some(_) => "arn:aws:s3:::{recordings}/cue-log/{channel}/{cue}.json".into(),
                None => format!("arn:aws:s3:::{{recordings}}/{key}"),
            };
        }
        // What on-thumbnail saw: sightings/<channel>/<at>-<thumbnail>.json.
        if key.starts_with("sightings/") {
            return "arn:aws:s3:::{recordings}/sightings/{channel}/{sighting}.json".into();
        }
        return format!("arn:aws:s3:::{{recordings}}/{key}");
    }
    if arn == "arn:aws:s3:::ivs-recordings" {
        return "arn:aws:s3:::{recordings}".into();
    }
    arn.to_string()
}

/// The calls of the checked roles.
pub fn checked(calls: &[AwsCall]) -> Vec<AwsCall> {
    calls
        .iter()
        .filter(|c| CHECKED_ROLES.contains(&c.role.as_str()))
        .cloned()
        .collect()
}

/// Compares the recorded calls with the reviewed list. With `complete` (every
/// scenario ran), they must be equal; otherwise every recorded call must be
/// listed. `UPDATE_AWS_CALLS=1` rewrites the list instead (review the diff:
/// the permissions test then holds the stack to it).
pub fn check_against_reviewed_list(recorded: &[AwsCall], complete: bool) -> Result<(), String> {
    let path = reviewed_list_path();
    let recorded: BTreeSet<AwsCall> = checked(recorded).into_iter().collect();
    if complete && std::env::var("UPDATE_AWS_CALLS").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&recorded).map_err(|e| e.to_string())?;
        std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reviewed: BTreeSet<AwsCall> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let new: Vec<_> = recorded.difference(&reviewed).collect();
    let gone: Vec<_> = reviewed.difference(&recorded).collect();
    let mut problems = Vec::new();
    if !new.is_empty() {
        problems.push(format!(
            "calls the reviewed list lacks (grant them in infra/lib/constructs/): {new:#?}"
        ));
    }
    if complete && !gone.is_empty() {
        problems.push(format!(
            "listed calls no scenario made any more (drop their grants): {gone:#?}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n{}: after review, rerun with UPDATE_AWS_CALLS=1 to rewrite it",
            problems.join("\n"),
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_become_placeholders() {
        assert_eq!(
            normalize_resource("arn:aws:s3:::ivs-recordings/ivs/v1/123456789012/abc/2026/11/24/17/5/recabc/media/thumbnails/thumb12.jpg"),
            "arn:aws:s3:::{recordings}/ivs/v1/123456789012/{channel}/2026/11/24/17/5/{recording}/media/thumbnails/{thumbnail}.jpg"
        );
        assert_eq!(
            normalize_resource("arn:aws:s3:::ivs-recordings/ivs/v1/123456789012/abc/2026/11/24/17/5/recabc/media/hls/cues.json"),
            "arn:aws:s3:::{recordings}/ivs/v1/123456789012/{channel}/2026/11/24/17/5/{recording}/media/hls/cues.json"
        );
        assert_eq!(
            normalize_resource(
                "arn:aws:s3:::ivs-recordings/cue-log/abc/1790000004000-1790000004000.json"
            ),
            "arn:aws:s3:::{recordings}/cue-log/{channel}/{cue}.json"
        );
        assert_eq!(
            normalize_resource("arn:aws:s3:::ivs-recordings/cue-log/catalogs/62756e646c6564.json"),
            "arn:aws:s3:::{recordings}/cue-log/catalogs/{catalog_version}.json"
        );
        assert_eq!(
            normalize_resource("arn:aws:ivs:us-east-1:123456789012:channel/firstsighting"),
            "arn:aws:ivs:us-east-1:123456789012:channel/{channel}"
        );
        assert_eq!(
            normalize_resource("arn:aws:s3:::brand-refs/aws/aws-1.png"),
            "arn:aws:s3:::brand-refs/aws/aws-1.png"
        );
        assert_eq!(percent_decode("arn%3Aaws%3Alambda"), "arn:aws:lambda");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
