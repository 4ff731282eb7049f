//! The IVS control-plane calls the studio answers, on the REST-JSON wire
//! protocol the real `aws-sdk-ivs` speaks (POST `/<Operation>` with a JSON
//! body; errors as a status, an `x-amzn-ErrorType` header and a JSON body), so
//! the backend's unchanged client works with an endpoint URL.
//!
//! Request signatures are not checked: the studio binds 127.0.0.1 only.

use crate::channel::Channel;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use backend::ports::PublishError;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// IVS's limit on one PutMetadata payload.
pub const MAX_METADATA_BYTES: usize = 1024;
/// IVS's limit on PutMetadata calls per channel per second.
pub const MAX_PUTS_PER_SECOND: usize = 5;

/// The IVS error codes the studio and the test stand-in answer with: the
/// `x-amzn-ErrorType` the SDK reads, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvsErrorCode {
    Validation,
    ResourceNotFound,
    ChannelNotBroadcasting,
    Throttling,
}

impl IvsErrorCode {
    /// The code on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "ValidationException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ChannelNotBroadcasting => "ChannelNotBroadcasting",
            Self::Throttling => "ThrottlingException",
        }
    }

    /// The HTTP status IVS sends with it.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Validation => StatusCode::BAD_REQUEST,
            Self::ResourceNotFound | Self::ChannelNotBroadcasting => StatusCode::NOT_FOUND,
            Self::Throttling => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// An error as IVS returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvsError {
    pub code: IvsErrorCode,
    pub message: String,
}

impl From<IvsError> for PublishError {
    /// What the backend makes of the answer: the same variants its SDK
    /// adapter maps IVS's typed errors to.
    fn from(e: IvsError) -> Self {
        match e.code {
            IvsErrorCode::Throttling => PublishError::Throttled(e.message.into()),
            IvsErrorCode::ChannelNotBroadcasting => PublishError::NotBroadcasting(e.message.into()),
            IvsErrorCode::Validation => PublishError::Invalid(e.message.into()),
            IvsErrorCode::ResourceNotFound => PublishError::Other(e.message.into()),
        }
    }
}

impl IvsError {
    pub fn validation(message: impl Into<String>) -> Self {
        Self {
            code: IvsErrorCode::Validation,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self {
            code: IvsErrorCode::ResourceNotFound,
            message: format!("{what} not found"),
        }
    }

    pub fn not_broadcasting(arn: &str) -> Self {
        Self {
            code: IvsErrorCode::ChannelNotBroadcasting,
            message: format!("channel {arn} is not currently live"),
        }
    }

    pub fn throttled() -> Self {
        Self {
            code: IvsErrorCode::Throttling,
            message: format!(
                "more than {MAX_PUTS_PER_SECOND} PutMetadata calls in one second on this channel"
            ),
        }
    }
}

impl IntoResponse for IvsError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        // IVS's error shapes carry `exceptionMessage`; `message` is what
        // generic clients read.
        let body = json!({
            "__type": self.code.as_str(),
            "message": self.message,
            "exceptionMessage": self.message,
        });
        (
            status,
            [
                ("x-amzn-ErrorType", self.code.as_str().to_string()),
                ("content-type", "application/json".to_string()),
            ],
            body.to_string(),
        )
            .into_response()
    }
}

/// The largest API request body: PutMetadata's 1 KB of metadata, JSON
/// escaped (up to 6 bytes a byte), with room for the ARN.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// A request body of at most [`MAX_REQUEST_BYTES`], read without trusting
/// Content-Length; larger ones get IVS's ValidationException (not axum's
/// plain-text 413, which the SDK cannot parse).
pub struct ApiBody(pub Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ApiBody {
    type Rejection = IvsError;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, IvsError> {
        axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES)
            .await
            .map(ApiBody)
            .map_err(|_| {
                IvsError::validation(format!(
                    "the request body is over {MAX_REQUEST_BYTES} bytes; PutMetadata takes at most {MAX_METADATA_BYTES} bytes of metadata"
                ))
            })
    }
}

/// PutMetadata's payload rule: 1 to 1024 bytes.
pub fn check_metadata(metadata: &str) -> Result<(), IvsError> {
    match metadata.len() {
        0 => Err(IvsError::validation("metadata must not be empty")),
        n if n > MAX_METADATA_BYTES => Err(IvsError::validation(format!(
            "metadata is {n} bytes; IVS accepts at most {MAX_METADATA_BYTES} bytes per PutMetadata"
        ))),
        _ => Ok(()),
    }
}

/// Accepted calls in the last second, for IVS's 5-per-second limit.
#[derive(Debug, Default)]
pub struct RateWindow {
    accepted: VecDeque<Instant>,
}

impl RateWindow {
    /// Records a call at `now` and returns true, or false when it would be
    /// the sixth within a second.
    pub fn try_accept(&mut self, now: Instant) -> bool {
        while self
            .accepted
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            self.accepted.pop_front();
        }
        if self.accepted.len() >= MAX_PUTS_PER_SECOND {
            return false;
        }
        self.accepted.push_back(now);
        true
    }
}

/// The channels the API answers for.
pub type Channels = Arc<Vec<Arc<Channel>>>;

fn body_json(body: &Bytes) -> Result<Value, IvsError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| IvsError::validation("the request body must be a JSON object"))
}

fn string_field<'a>(body: &'a Value, field: &str) -> Result<&'a str, IvsError> {
    body.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| IvsError::validation(format!("{field} is required and must be a string")))
}

fn find_channel<'a>(channels: &'a [Arc<Channel>], arn: &str) -> Result<&'a Arc<Channel>, IvsError> {
    let shaped = arn.starts_with("arn:aws") && arn.contains(":ivs:") && arn.contains(":channel/");
    if !shaped {
        return Err(IvsError::validation(format!(
            "{arn:?} is not an IVS channel ARN (arn:aws:ivs:<region>:<account>:channel/<id>)"
        )));
    }
    channels
        .iter()
        .find(|c| c.info.arn() == arn)
        .ok_or_else(|| IvsError::not_found(&format!("channel {arn}")))
}

pub async fn put_metadata(State(channels): State<Channels>, ApiBody(body): ApiBody) -> Response {
    let result = (|| {
        let body = body_json(&body)?;
        let arn = string_field(&body, "channelArn")?;
        let metadata = string_field(&body, "metadata")?;
        find_channel(&channels, arn)?.put_metadata(metadata, Instant::now())
    })();
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::info!(code = e.code.as_str(), message = %e.message, "PutMetadata refused");
            e.into_response()
        }
    }
}

fn channel_json(c: &Channel) -> Value {
    json!({
        "arn": c.info.arn(),
        "name": c.info.name,
        "latencyMode": "NORMAL",
        "type": "STANDARD",
        "authorized": false,
        "insecureIngest": true,
        "recordingConfigurationArn": "",
        "ingestEndpoint": c.info.ingest_endpoint,
        "playbackUrl": c.info.playback_url(),
        "tags": {},
    })
}

pub async fn get_channel(State(channels): State<Channels>, ApiBody(body): ApiBody) -> Response {
    let result = (|| {
        let body = body_json(&body)?;
        let arn = string_field(&body, "arn")?;
        Ok::<_, IvsError>(channel_json(find_channel(&channels, arn)?))
    })();
    match result {
        Ok(channel) => axum::Json(json!({ "channel": channel })).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn list_channels(State(channels): State<Channels>, ApiBody(body): ApiBody) -> Response {
    // All fields are optional; an empty body is fine.
    let filter = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let name = filter.get("filterByName").and_then(Value::as_str);
    let summaries: Vec<Value> = channels
        .iter()
        .filter(|c| name.is_none_or(|n| c.info.name.contains(n)))
        .map(|c| {
            let mut v = channel_json(c);
            if let Some(o) = v.as_object_mut() {
                o.remove("ingestEndpoint");
                o.remove("playbackUrl");
            }
            v
        })
        .collect();
    axum::Json(json!({ "channels": summaries })).into_response()
}

pub async fn get_stream(State(channels): State<Channels>, ApiBody(body): ApiBody) -> Response {
    let result = (|| {
        let body = body_json(&body)?;
        let arn = string_field(&body, "channelArn")?;
        let channel = find_channel(&channels, arn)?;
        if !channel.is_live() {
            return Err(IvsError::not_broadcasting(arn));
        }
        Ok(json!({ "stream": {
            "channelArn": arn,
            "playbackUrl": channel.info.playback_url(),
            "state": "LIVE",
            "health": "HEALTHY",
            "viewerCount": 0,
        }}))
    })();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_call_within_a_second_is_refused() {
        let mut w = RateWindow::default();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(w.try_accept(t0 + Duration::from_millis(i * 100)));
        }
        assert!(!w.try_accept(t0 + Duration::from_millis(900)));
        // A refused call does not count; a second after the first, room again.
        assert!(w.try_accept(t0 + Duration::from_millis(1000)));
        assert!(!w.try_accept(t0 + Duration::from_millis(1050)));
    }

    #[test]
    fn metadata_is_one_to_1024_bytes() {
        assert!(check_metadata("x").is_ok());
        assert!(check_metadata(&"x".repeat(1024)).is_ok());
        let e = check_metadata(&"x".repeat(1025)).unwrap_err();
        assert_eq!(e.code, IvsErrorCode::Validation);
        assert_eq!(e.code.status(), 400);
        assert!(e.message.contains("1025"));
        assert!(check_metadata("").is_err());
        // Bytes, not characters: 342 three-byte characters are 1026 bytes.
        assert!(check_metadata(&"€".repeat(342)).is_err());
    }
}
