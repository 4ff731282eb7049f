//! The edges of the pipeline: small traits the handlers call, implemented over
//! AWS in [`crate::aws`] (and pointed at moto or the local stand-ins in tests).

use crate::decision::{ChannelState, Detection, UnixSeconds};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a service (AWS, a stand-in, a local adapter) said went wrong, with
/// the error it came from kept as its `source()`, so a log or an `anyhow`
/// chain can show the SDK's own error under the port's.
///
/// Each port error says only its own words (`IVS throttled PutMetadata`)
/// and carries this as its source: printed whole, a chain says each thing
/// once. Logs print [`Chain`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    pub message: String,
    /// Shared, so port errors stay `Clone` for retries and reports.
    #[source]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl ServiceError {
    /// `message`, caused by `source`.
    pub fn caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }
}

impl From<String> for ServiceError {
    /// A failure with no underlying error (a rule the adapter checks).
    fn from(message: String) -> Self {
        Self {
            message,
            source: None,
        }
    }
}

impl From<&str> for ServiceError {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

/// An error and its causes, as one line: `IVS throttled PutMetadata:
/// ThrottlingException: rate exceeded`. The walk stops after a
/// [`ServiceError`], whose message already sums up the SDK error below it
/// (its code and message); that error stays reachable as its source.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut current = Some(self.0);
        let mut first = true;
        while let Some(e) = current {
            if !first {
                f.write_str(": ")?;
            }
            first = false;
            write!(f, "{e}")?;
            if e.downcast_ref::<ServiceError>().is_some() {
                break;
            }
            current = e.source();
        }
        Ok(())
    }
}

/// Channel state, read and written atomically per channel.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The channel's state; the default state (version 0) if it has none.
    async fn load(&self, channel_arn: &str) -> Result<ChannelState, StoreError>;
    /// Writes `state` only if the stored version is still `expected_version`.
    async fn save(
        &self,
        channel_arn: &str,
        state: &ChannelState,
        expected_version: u64,
    ) -> Result<SaveOutcome, StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved,
    /// Someone else wrote first: reload and decide again.
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state table")]
    Service(#[source] ServiceError),
    #[error(
        "state item for {channel} is malformed ({problem}); delete the item to reset the channel"
    )]
    Malformed { channel: String, problem: String },
}

/// IVS PutMetadata.
#[async_trait]
pub trait CuePublisher: Send + Sync {
    async fn put_metadata(&self, channel_arn: &str, metadata: &str) -> Result<(), PublishError>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error("IVS throttled PutMetadata")]
    Throttled(#[source] ServiceError),
    #[error("channel is not broadcasting")]
    NotBroadcasting(#[source] ServiceError),
    #[error("IVS refused the metadata")]
    Invalid(#[source] ServiceError),
    #[error("IVS PutMetadata failed")]
    Other(#[source] ServiceError),
}

/// Where the image to analyse is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    S3 { bucket: String, key: String },
}

/// Finds the catalog's labels in an image (Rekognition Custom Labels, or the
/// built-in detector).
#[async_trait]
pub trait Detector: Send + Sync {
    async fn detect(&self, image: &ImageRef) -> Result<Vec<Detection>, DetectError>;

    /// Gets ready for a changed catalog before it takes effect (the
    /// built-in detector rebuilds its index when references or wordmarks
    /// changed). An error leaves the detector as it was, and the catalog
    /// change is refused.
    async fn follow_catalog(&self, _catalog: &ad_contract::Catalog) -> Result<(), DetectError> {
        Ok(())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DetectError {
    /// The Custom Labels model is not running (stopped, starting, failed).
    #[error("the detection model is not running (start it with `aws rekognition start-project-version`)")]
    ModelNotReady(#[source] ServiceError),
    /// This image cannot be analysed (missing, too large, not an image).
    #[error("the image cannot be analysed")]
    BadImage(#[source] ServiceError),
    #[error("detector")]
    Other(#[source] ServiceError),
}

/// The input each workflow execution starts with (and that every step passes on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowInput {
    pub channel_arn: String,
    /// The execution's own name: the owner recorded in the channel state.
    pub execution: String,
    /// Steps taken so far; an execution hands over to a fresh one before Step
    /// Functions' 25,000-event history limit.
    #[serde(default)]
    pub iteration: u64,
}

/// Step Functions StartExecution.
#[async_trait]
pub trait WorkflowStarter: Send + Sync {
    async fn start(&self, input: &WorkflowInput) -> Result<(), StartError>;
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the workflow input does not serialize")]
    Input(#[source] serde_json::Error),
    #[error("StartExecution")]
    Service(#[source] ServiceError),
}

/// The time, behind a trait so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> UnixSeconds;
    /// Now in Unix milliseconds (a replay places cues to the millisecond).
    fn now_ms(&self) -> u64 {
        self.now().saturating_mul(1000)
    }
}

/// A function of no arguments is a clock: tests pass `|| T0`, binaries
/// [`crate::calendar::unix_now`].
impl<F: Fn() -> UnixSeconds + Send + Sync> Clock for F {
    fn now(&self) -> UnixSeconds {
        self()
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixSeconds {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn now_ms(&self) -> u64 {
        crate::calendar::unix_now_ms()
    }
}

/// Bounded retries with full jitter, for PutMetadata throttling and state
/// write conflicts.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base: Duration::from_millis(150),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0-based): uniform in
    /// `[0, min(max_delay, base * 2^retry)]`, so concurrent callers spread out.
    pub fn delay(&self, retry: u32) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_errors_keep_the_underlying_error() {
        let io = std::io::Error::other("connection reset");
        let e = PublishError::Other(ServiceError::caused_by("PutMetadata failed", io));
        let chain: Vec<String> =
            std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .map(|e| e.to_string())
                .collect();
        assert_eq!(
            chain,
            [
                "IVS PutMetadata failed",
                "PutMetadata failed",
                "connection reset"
            ]
        );
        // A log's line: each thing once, down to the service's own summary.
        assert_eq!(
            Chain(&e).to_string(),
            "IVS PutMetadata failed: PutMetadata failed"
        );
        let store = StoreError::Service(ServiceError::from("ThrottlingException: slow down"));
        assert_eq!(
            Chain(&store).to_string(),
            "state table: ThrottlingException: slow down"
        );
    }

    #[test]
    fn retry_delays_are_jittered_and_capped() {
        let policy = RetryPolicy::default();
        for retry in 0..40 {
            let d = policy.delay(retry);
            assert!(d <= policy.max_delay);
            assert!(d <= policy.base * 2u32.pow(retry.min(16)));
        }
        let spread: std::collections::BTreeSet<_> = (0..20).map(|_| policy.delay(3)).collect();
        assert!(spread.len() > 1, "jitter spreads retries");
    }
}
