//! The project's local stand-ins for the AWS APIs moto lacks, speaking their
//! real wire protocols on one 127.0.0.1 port:
//!
//! * IVS `POST /PutMetadata` (REST-JSON): 204, with IVS's limits and errors
//!   (over 1 KB → 400 ValidationException, a 6th call within a second → 429
//!   ThrottlingException, channel offline → 404 ChannelNotBroadcasting,
//!   unknown channel → 404 ResourceNotFoundException) and the
//!   `x-amzn-ErrorType` header the SDK reads;
//! * Rekognition `DetectCustomLabels` (JSON 1.1, `X-Amz-Target`): scripted
//!   labels per S3 object, `MinConfidence` honoured, or ResourceNotReady;
//! * Lambda `Invoke` (`POST /2015-03-31/functions/<name>/invocations`): runs the
//!   real on-tick handler in process. moto's Step Functions engine invokes
//!   Lambda at `localhost:$MOTO_PORT`, which the harness points here.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use backend::handlers::{on_tick, Pipeline};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use studio::ivs_api::{check_metadata, IvsError, RateWindow};
use tokio::sync::oneshot;

/// How a channel answers PutMetadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMode {
    Live,
    NotBroadcasting,
    /// Every call is throttled (a storm).
    Throttled,
}

#[derive(Debug, Clone)]
pub struct PutMetadataCall {
    pub channel_arn: String,
    pub metadata: String,
    pub status: u16,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    channels: HashMap<String, ChannelMode>,
    rates: HashMap<String, RateWindow>,
    calls: Vec<PutMetadataCall>,
    /// Labels per S3 object key: (name, confidence).
    labels: HashMap<String, Vec<(String, f32)>>,
    model_ready: bool,
    /// How long DetectCustomLabels takes to answer (Rekognition's own
    /// latency, for the benchmark; none by default).
    detect_latency: Duration,
    detect_calls: Vec<Value>,
    tick: Option<Arc<Pipeline>>,
    invocations: usize,
}

#[derive(Clone, Default)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
}

pub struct RunningStandIn {
    pub state: StandIn,
    pub url: String,
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for RunningStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl StandIn {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking test must not poison the stand-in for the others.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_channel(&self, arn: &str, mode: ChannelMode) {
        self.lock().channels.insert(arn.into(), mode);
    }

    pub fn set_labels(&self, s3_key: &str, labels: &[(&str, f32)]) {
        self.lock().labels.insert(
            s3_key.into(),
            labels.iter().map(|(n, c)| ((*n).into(), *c)).collect(),
        );
    }

    /// DetectCustomLabels answers after `latency`, as Rekognition takes
    /// its time to analyse a frame.
    pub fn set_detect_latency(&self, latency: Duration) {
        self.lock().detect_latency = latency;
    }

    pub fn set_model_ready(&self, ready: bool) {
        self.lock().model_ready = ready;
    }

    pub fn set_tick_pipeline(&self, pipeline: Arc<Pipeline>) {
        self.lock().tick = Some(pipeline);
    }

    /// Every PutMetadata call for a channel, accepted or not.
    pub fn calls(&self, arn: &str) -> Vec<PutMetadataCall> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.channel_arn == arn)
            .cloned()
            .collect()
    }

    /// The cues IVS accepted for a channel, in order.
    pub fn accepted(&self, arn: &str) -> Vec<String> {
        self.calls(arn)
            .into_iter()
            .filter(|c| c.status == 204)
            .map(|c| c.metadata)
            .collect()
    }

    /// DetectCustomLabels requests whose image is this S3 key.
    pub fn detect_calls_for(&self, key: &str) -> usize {
        self.lock()
            .detect_calls
            .iter()
            .filter(|b| b["Image"]["S3Object"]["Name"] == key)
            .count()
    }

    pub async fn start() -> anyhow::Result<RunningStandIn> {
        let state = StandIn::default();
        state.set_model_ready(true);
        let app = Router::new()
            .route("/PutMetadata", post(put_metadata))
            .route("/", post(json_rpc))
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(state.clone());
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
        Ok(RunningStandIn {
            state,
            url: format!("http://127.0.0.1:{port}"),
            port,
            stop: Some(stop),
        })
    }
}

/// A JSON-protocol error (Rekognition, Lambda) as the SDKs read it.
fn aws_error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    (
        status,
        [
            ("content-type", "application/json"),
            ("x-amzn-ErrorType", kind),
        ],
        json!({ "__type": kind, "message": message, "Message": message }).to_string(),
    )
        .into_response()
}

/// IVS PutMetadata with the studio's own rules (size, 5 per second), so the
/// stand-in and the local channel cannot disagree about what IVS accepts.
async fn put_metadata(State(s): State<StandIn>, body: Bytes) -> Response {
    let now = Instant::now();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let arn = parsed["channelArn"].as_str().unwrap_or("").to_string();
    let metadata = parsed["metadata"].as_str().unwrap_or("").to_string();
    let mut inner = s.lock();
    let result = match inner.channels.get(&arn).copied() {
        _ if check_metadata(&metadata).is_err() => check_metadata(&metadata),
        None => Err(IvsError::not_found(&format!("channel {arn}"))),
        Some(ChannelMode::NotBroadcasting) => Err(IvsError::not_broadcasting(&arn)),
        Some(ChannelMode::Throttled) => Err(IvsError::throttled()),
        Some(ChannelMode::Live) => {
            if inner.rates.entry(arn.clone()).or_default().try_accept(now) {
                Ok(())
            } else {
                Err(IvsError::throttled())
            }
        }
    };
    let response = match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    };
    inner.calls.push(PutMetadataCall {
        channel_arn: arn,
        metadata,
        status: response.status().as_u16(),
        at: now,
    });
    response
}

async fn json_rpc(State(s): State<StandIn>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if target != "RekognitionService.DetectCustomLabels" {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("the stand-in does not implement {target:?}"),
        );
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let latency = s.lock().detect_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut inner = s.lock();
    inner.detect_calls.push(request.clone());
    if !inner.model_ready {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ResourceNotReadyException",
            "the project version is not running",
        );
    }
    let key = request["Image"]["S3Object"]["Name"].as_str().unwrap_or("");
    let min = request["MinConfidence"].as_f64().unwrap_or(50.0) as f32;
    let labels: Vec<Value> = inner
        .labels
        .get(key)
        .into_iter()
        .flatten()
        .filter(|(_, c)| *c >= min)
        .map(|(name, confidence)| {
            json!({
                "Name": name,
                "Confidence": confidence,
                "Geometry": {"BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.25}}
            })
        })
        .collect();
    (
        [("content-type", "application/x-amz-json-1.1")],
        json!({ "CustomLabels": labels }).to_string(),
    )
        .into_response()
}

async fn invoke(State(s): State<StandIn>, Path(name): Path<String>, body: Bytes) -> Response {
    let pipeline = {
        let mut inner = s.lock();
        inner.invocations += 1;
        inner.tick.clone()
    };
    let Some(pipeline) = pipeline.filter(|_| name.contains("on-tick")) else {
        return aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("function {name} not found"),
        );
    };
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let event = LambdaEvent::new(payload, Context::default());
    match on_tick(&pipeline, event).await {
        Ok(out) => (
            [("content-type", "application/json")],
            serde_json::to_string(&out).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => {
            let diagnostic = lambda_runtime::Diagnostic::from(e);
            (
                [
                    ("content-type", "application/json"),
                    ("X-Amz-Function-Error", "Unhandled"),
                ],
                json!({"errorType": diagnostic.error_type, "errorMessage": diagnostic.error_message})
                    .to_string(),
            )
                .into_response()
        }
    }
}
