//! The aggregator Lambda: batches of the measurement stream (a Kinesis
//! event source mapping, one invocation at a time per shard) counted into
//! the counters ([`crate::measure_aws::CounterStore`], core in
//! [`crate::aggregate`]).
//!
//! A batch succeeds whole or fails whole: the Lambda service then delivers
//! the same records again (bounded retries, then the stack's dead-letter
//! queue and its alarm), and [`CounterStore::apply`] is safe to run again.
//! A record that is not an event can never succeed: it is logged, counted
//! in `BadRecords` and skipped, so it cannot hold the shard.

use crate::aggregate::{decode_event, SequenceNumber, ShardId, StreamEvent, StreamRecordError};
use crate::measure::MeasureStoreError;
use crate::measure_aws::{BatchSummary, CounterStore};
use aws_lambda_events::event::kinesis::KinesisEvent;
use std::collections::BTreeMap;

/// What one invocation did, for the metrics (`IvsAds/Collector`,
/// dimension `Function`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggregatorMetrics {
    pub records: u64,
    pub bad_records: u64,
    pub batch: BatchSummary,
}

impl AggregatorMetrics {
    pub fn named(&self) -> [(&'static str, u64); 7] {
        [
            ("StreamRecords", self.records),
            ("BadRecords", self.bad_records),
            ("Claimed", self.batch.claimed),
            ("StreamDuplicates", self.batch.duplicates),
            ("CounterWrites", self.batch.counter_writes),
            ("AlreadyApplied", self.batch.already_applied),
            ("ViewablesWithoutImpression", self.batch.no_impression),
        ]
    }
}

/// A stream record's shard: the event id is `<shard id>:<sequence number>`.
fn shard_of(event_id: Option<&str>) -> Result<ShardId, StreamRecordError> {
    let id = event_id.unwrap_or("");
    ShardId::parse(id.split_once(':').map_or(id, |(shard, _)| shard))
}

/// One invocation: every record read, grouped by shard in stream order
/// ([`read_batch`]), each shard's events applied.
pub async fn handle_batch(
    store: &CounterStore,
    event: &KinesisEvent,
) -> Result<AggregatorMetrics, MeasureStoreError> {
    let (shards, mut metrics) = read_batch(event);
    for (shard, events) in shards {
        metrics.batch += store.apply(&shard, &events).await?;
    }
    Ok(metrics)
}

/// A batch's records as events per shard, each shard's in stream order;
/// a record that is not an event is logged and counted in the metrics'
/// `bad_records`, and skipped.
pub fn read_batch(
    event: &KinesisEvent,
) -> (BTreeMap<ShardId, Vec<StreamEvent>>, AggregatorMetrics) {
    let mut metrics = AggregatorMetrics {
        records: event.records.len() as u64,
        ..AggregatorMetrics::default()
    };
    let mut shards: BTreeMap<ShardId, Vec<StreamEvent>> = BTreeMap::new();
    for record in &event.records {
        let read = shard_of(record.event_id.as_deref()).and_then(|shard| {
            Ok((
                shard,
                StreamEvent {
                    sequence: SequenceNumber::parse(&record.kinesis.sequence_number)?,
                    event: decode_event(&record.kinesis.data.0)?,
                },
            ))
        });
        match read {
            Ok((shard, e)) => shards.entry(shard).or_default().push(e),
            Err(e) => {
                tracing::error!(error = %e, event_id = ?record.event_id, "a stream record skipped");
                metrics.bad_records += 1;
            }
        }
    }
    for events in shards.values_mut() {
        events.sort_by(|a, b| a.sequence.cmp(&b.sequence));
    }
    (shards, metrics)
}

/// The aggregator's settings, from the environment (names in
/// `backend/lambda-env.json`); every problem in one error.
#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    pub table: String,
    pub delivery_stream: String,
    pub region: String,
}

impl AggregatorConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::{AWS_REGION, MEASURE_DELIVERY_STREAM_NAME, MEASURE_TABLE_NAME};
        let mut required = crate::config::Required::new(lookup);
        let config = Self {
            table: required.get(MEASURE_TABLE_NAME, "the measurement table's name"),
            delivery_stream: required.get(
                MEASURE_DELIVERY_STREAM_NAME,
                "the raw events' Firehose delivery stream",
            ),
            region: required.get(AWS_REGION, "the AWS region, e.g. us-east-1"),
        };
        required.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_is_read_from_the_event_id() {
        assert_eq!(
            shard_of(Some("shardId-000000000003:4954"))
                .unwrap()
                .as_str(),
            "shardId-000000000003"
        );
        assert!(shard_of(Some("")).is_err());
        assert!(shard_of(None).is_err());
        assert!(shard_of(Some("a b:1")).is_err());
    }

    #[test]
    fn every_missing_setting_is_named() {
        let err = AggregatorConfig::from_lookup(|_| None)
            .unwrap_err()
            .to_string();
        for name in [
            "MEASURE_TABLE_NAME",
            "MEASURE_DELIVERY_STREAM_NAME",
            "AWS_REGION",
        ] {
            assert!(err.contains(name), "{err}");
        }
    }
}
