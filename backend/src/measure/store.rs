//! The store ports: where accepted events go and where the report reads.

use super::*;

/// What the report and the dashboard read: the counters.
#[async_trait]
pub trait MeasureReader: Send + Sync {
    /// Every show's counters, newest show first.
    async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError>;
    /// Counts per hour, product and measure, oldest first.
    async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError>;
}

/// Where accepted events go. An event id is counted at most once however
/// many times and however concurrently it arrives: at once and atomically
/// (the studio's SQLite), or later by the aggregator from the measurement
/// stream (AWS: [`crate::aggregate`]).
#[async_trait]
pub trait MeasureStore: Send + Sync {
    async fn record(&self, events: &[Recorded]) -> Result<RecordSummary, MeasureStoreError>;
}

/// The store failed: what it was doing, and the error under it (a port
/// error like the pipeline's, see [`crate::ports::ServiceError`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("measurement store: {0}")]
pub struct MeasureStoreError(#[source] pub crate::ports::ServiceError);

impl MeasureStoreError {
    /// `message`, caused by `source`.
    pub fn new(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self(crate::ports::ServiceError::caused_by(message, source))
    }

    /// A failure with no underlying error.
    pub fn because(message: impl Into<String>) -> Self {
        Self(crate::ports::ServiceError::from(message.into()))
    }
}
