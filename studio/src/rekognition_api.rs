//! A Rekognition-compatible `DetectCustomLabels` (JSON 1.1, `X-Amz-Target:
//! RekognitionService.DetectCustomLabels`) backed by the built-in detector and
//! the catalog's reference images, so the unchanged on-thumbnail Lambda code
//! (the Rekognition detector adapter) runs against the studio. Images come
//! as `Bytes` or as an `S3Object`, read from the studio's thumbnail folder or
//! from the S3 endpoint it writes to.

use crate::thumbnails::S3Target;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use backend::builtin::detect_bytes;
use backend::decision::BoundingBox;
use backend::ports::DetectError;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Rekognition's own limits: 4 MB of bytes inline, 15 MB from S3.
const MAX_INLINE_BYTES: usize = 4 * 1024 * 1024;
const MAX_S3_BYTES: i64 = 15 * 1024 * 1024;
/// Rekognition's default MinConfidence when the request gives none is the
/// model's own threshold; ours is the detector's.
const DEFAULT_MIN_CONFIDENCE: f64 = detector::DEFAULT_MIN_CONFIDENCE as f64;

/// The largest request body: 4 MB of image in base64 (4/3 larger) plus the
/// JSON around it. Larger bodies get Rekognition's ImageTooLargeException,
/// not a plain-text 413.
const MAX_REQUEST_BYTES: usize = MAX_INLINE_BYTES / 3 * 4 + 64 * 1024;

#[derive(Clone)]
pub struct Rekognition {
    /// The local chain's detector, as the catalog is now.
    pub detector: Option<Arc<backend::builtin::LiveBuiltin>>,
    pub thumbnails_dir: PathBuf,
    pub s3: Option<S3Target>,
    pub slots: Arc<DetectionSlots>,
}

/// At most `running` detections at once (each may hold a decoded frame of
/// up to 64 MB, and a core); up to `waiting` more wait their turn; beyond
/// that, callers get Rekognition's ThrottlingException and retry, as the
/// SDKs do.
pub struct DetectionSlots {
    running: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
}

impl DetectionSlots {
    pub fn new(running: usize, max_waiting: usize) -> Self {
        Self {
            running: tokio::sync::Semaphore::new(running.max(1)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// One detection at a time per core, and as many waiting.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, cores)
    }

    /// A slot, or None when the queue is full.
    async fn take(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        use std::sync::atomic::Ordering;
        if let Ok(permit) = self.running.try_acquire() {
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = self.running.acquire().await.ok();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit
    }
}

fn error(code: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amzn-errortype", code),
        ],
        json!({"__type": code, "Message": message}).to_string(),
    )
        .into_response()
}

fn invalid(message: &str) -> Response {
    error("InvalidParameterException", message)
}

pub async fn dispatch(State(r): State<Rekognition>, headers: HeaderMap, body: Body) -> Response {
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                "ImageTooLargeException",
                &format!(
                    "the request is over {} bytes: Image.Bytes takes at most 4 MB; pass larger images as an S3Object",
                    MAX_REQUEST_BYTES
                ),
            )
        }
    };
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if target != "RekognitionService.DetectCustomLabels" {
        return error(
            "UnknownOperationException",
            &format!(
                "the studio implements RekognitionService.DetectCustomLabels only, not {target:?}"
            ),
        );
    }
    let Some(detector) = r.detector.clone() else {
        return error(
            "ResourceNotReadyException",
            "the studio's built-in detector is off (started with --no-local-chain or without references)",
        );
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                "SerializationException",
                &format!("the body is not JSON: {e}"),
            )
        }
    };
    if request
        .get("ProjectVersionArn")
        .and_then(Value::as_str)
        .is_none()
    {
        return invalid("ProjectVersionArn is required (any project version ARN: the studio has one model, the built-in detector)");
    }
    let min_confidence = match request.get("MinConfidence") {
        None => DEFAULT_MIN_CONFIDENCE,
        Some(v) => match v.as_f64() {
            Some(c) if (0.0..=100.0).contains(&c) => c,
            _ => return invalid("MinConfidence must be a number from 0 to 100"),
        },
    };
    let max_results = match request.get("MaxResults") {
        None => usize::MAX,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n as usize,
            _ => return invalid("MaxResults must be a whole number of at least 1"),
        },
    };
    let bytes = match read_image(&r, request.get("Image")).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let Some(_slot) = r.slots.take().await else {
        return error(
            "ThrottlingException",
            "the studio is already running as many detections as it has cores, with as many waiting; retry shortly",
        );
    };
    let detector = detector.current().detector.clone();
    let found = match detect_bytes(detector, bytes, min_confidence as f32).await {
        Ok(found) => found,
        Err(DetectError::BadImage(e)) => {
            return error("InvalidImageFormatException", &e.to_string())
        }
        Err(e) => return error("InternalServerError", &e.to_string()),
    };
    let labels: Vec<Value> = found
        .iter()
        .take(max_results)
        .map(|d| {
            let b = d.bounding_box.unwrap_or(BoundingBox { left: 0.0, top: 0.0, width: 0.0, height: 0.0 });
            json!({
                "Name": d.label,
                "Confidence": d.confidence,
                "Geometry": {"BoundingBox": {"Left": b.left, "Top": b.top, "Width": b.width, "Height": b.height}}
            })
        })
        .collect();
    (
        [("content-type", "application/x-amz-json-1.1")],
        json!({ "CustomLabels": labels }).to_string(),
    )
        .into_response()
}

async fn read_image(r: &Rekognition, image: Option<&Value>) -> Result<Vec<u8>, Response> {
    let Some(image) = image else {
        return Err(invalid(
            "Image is required: {\"Bytes\": <base64>} or {\"S3Object\": {\"Bucket\", \"Name\"}}",
        ));
    };
    if let Some(b64) = image.get("Bytes") {
        let Some(text) = b64.as_str() else {
            return Err(invalid("Image.Bytes must be a base64 string"));
        };
        let bytes = aws_smithy_types::base64::decode(text)
            .map_err(|e| invalid(&format!("Image.Bytes is not valid base64: {e}")))?;
        if bytes.len() > MAX_INLINE_BYTES {
            return Err(error(
                "ImageTooLargeException",
                "Image.Bytes is over 4 MB; pass larger images as an S3Object",
            ));
        }
        return Ok(bytes);
    }
    let Some(object) = image.get("S3Object") else {
        return Err(invalid("Image needs Bytes or S3Object"));
    };
    let (Some(bucket), Some(key)) = (
        object.get("Bucket").and_then(Value::as_str),
        object.get("Name").and_then(Value::as_str),
    ) else {
        return Err(invalid("Image.S3Object needs Bucket and Name"));
    };
    if key.split('/').any(|p| p == "..") || key.starts_with('/') {
        return Err(error(
            "InvalidS3ObjectException",
            &format!("S3Object.Name {key:?} is not a valid key"),
        ));
    }
    // The studio's own thumbnails first (any bucket name: the folder is the
    // studio's bucket), then the S3 endpoint it writes to.
    let local = r.thumbnails_dir.join(key);
    if let Ok(meta) = tokio::fs::metadata(&local).await {
        if meta.len() as i64 > MAX_S3_BYTES {
            return Err(error(
                "ImageTooLargeException",
                "the thumbnail is over 15 MB",
            ));
        }
        if let Ok(bytes) = tokio::fs::read(&local).await {
            return Ok(bytes);
        }
    }
    let Some(s3) = &r.s3 else {
        return Err(error(
            "InvalidS3ObjectException",
            &format!("s3://{bucket}/{key} is not in the studio's thumbnails ({}) and no --s3-endpoint is set", r.thumbnails_dir.display()),
        ));
    };
    let out = s3
        .client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            error(
                "InvalidS3ObjectException",
                &format!(
                    "cannot read s3://{bucket}/{key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ),
            )
        })?;
    let too_large = || error("ImageTooLargeException", "the S3 object is over 15 MB");
    if out.content_length().unwrap_or(0) > MAX_S3_BYTES {
        return Err(too_large());
    }
    // Counted as it arrives too: a response without Content-Length must not
    // make the read unbounded.
    backend::aws::read_body_bounded(out.body, MAX_S3_BYTES as u64)
        .await
        .map_err(|e| {
            error(
                "InvalidS3ObjectException",
                &format!("reading s3://{bucket}/{key}: {e}"),
            )
        })?
        .ok_or_else(too_large)
}
