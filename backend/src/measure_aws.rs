//! Measurement's AWS adapters, beside the pipeline's (`aws.rs`):
//! * [`KinesisQueue`]: the collector's store, which appends accepted events
//!   to the measurement stream and writes nothing shared;
//! * [`CounterStore`]: the aggregator's, which claims each event by its
//!   dedupe record, sends the claimed ones to Firehose (raw, for Athena)
//!   and adds each batch's sums to the counters;
//! * [`DynamoCounters`]: the report's read of the counters, by Query on the
//!   `report` index, one partition a day.
//!
//! The table, keyed by `pk` (docs/measurement.md has the design):
//! * `e#<dedupe key>`: an event's dedupe record, its `claim` (the shard and
//!   sequence number of the stream record that first carried it), kept two
//!   days (TTL `expires_at`), far past any retry;
//! * `s#<channel>#<product>#<show>`: a show's counters, one number per
//!   measure, `first_at`, and per shard the last sequence number applied
//!   (`seq_<shard id>`); in the `report` index under `s#<day>`;
//! * `h#<hour>#<channel>#<product>`: the same per hour, under `h#<day>`.

use crate::aggregate::{
    counter_updates, hour_partition, mark_viewables_without_impression, show_day_partition,
    viewables_to_look_up, CounterUpdate, SequenceNumber, ShardId, StreamEvent,
};
use crate::calendar::DAY_SECONDS;
use crate::measure::{
    Counter, HourCount, Measure, MeasureReader, MeasureStore, MeasureStoreError, Outcome,
    RecordSummary, Recorded, ShowCounts, UnixSeconds,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// How long an event's dedupe record lives.
pub const DEDUPE_SECONDS: u64 = 2 * 86_400;
/// The items that say a viewer's impression of a show was counted
/// (`m#<viewer>.<channel>.<product>.<show>`), kept as long as dedupe
/// records.
const MARKER_PREFIX: &str = "m#";

fn marker_key(viewer_show: &str) -> String {
    format!("{MARKER_PREFIX}{viewer_show}")
}
/// The counters table's index the report reads.
pub const REPORT_INDEX: &str = "report";
/// Days a report reads when none are given.
pub const REPORT_DAYS: u64 = 31;
/// Pages of one day's partition a report reads before it says the range is
/// too large (1 MB each: about a million shows' counters a day).
pub const MAX_PAGES_A_DAY: usize = 1000;
/// Tries of a stream or Firehose put whose records were refused (throttled
/// shards), with [`RETRY_BASE`] doubling between them.
pub const PUT_ATTEMPTS: u32 = 4;
pub const RETRY_BASE: Duration = Duration::from_millis(50);
/// Dedupe records claimed at once by one aggregator.
const CLAIMS_IN_FLIGHT: usize = 16;
/// Rounds of an aggregator's writes (claims, counter updates) that failed
/// (throttled): each round retries only the failed ones, after the SDK's
/// own retries, so one throttled claim does not fail a batch of 10,000.
pub const WRITE_ROUNDS: u32 = 6;
/// Raw lines packed into one Firehose record, under its 1,000 KiB limit:
/// Firehose bills each record rounded up to 5 KB, and an event is ~250 B.
pub const RAW_RECORD_BYTES: usize = 512 * 1024;
/// Records of [`RAW_RECORD_BYTES`] in one PutRecordBatch (4 MiB a call).
const RAW_RECORDS_A_CALL: usize = 7;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn store_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> MeasureStoreError {
    MeasureStoreError::new(what, e)
}

/// An event as one line of the stream and of the raw files.
fn json_line(e: &Recorded) -> Vec<u8> {
    let mut line = serde_json::to_vec(e).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Records spread over the shards by viewer and show for the player's
/// events, so every copy of one event, and one viewer's events of one show,
/// go in order to one shard (the aggregator's viewable rule needs the
/// impression first); by event for a link's. At most 24 + 32 + 32 + 20 + 3
/// characters, inside Kinesis's 256.
fn partition_key(e: &Recorded) -> String {
    match e.measure {
        Measure::Click | Measure::Scan => e.dedupe_key(),
        _ => e.viewer_show(),
    }
}

/// The collector's store in AWS: accepted events onto the measurement
/// stream. The request path writes nothing shared: a thousand viewers'
/// impressions of one card are a thousand stream records, spread over the
/// shards by event, not a thousand writes to the show's counter.
pub struct KinesisQueue {
    pub kinesis: aws_sdk_kinesis::Client,
    pub stream: String,
}

#[async_trait]
impl MeasureStore for KinesisQueue {
    async fn record(&self, events: &[Recorded]) -> Result<RecordSummary, MeasureStoreError> {
        let mut pending: Vec<&Recorded> = events.iter().collect();
        let mut last_error = None;
        for attempt in 0..PUT_ATTEMPTS {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(RETRY_BASE * 2u32.pow(attempt - 1)).await;
            }
            let mut refused = Vec::new();
            // PutRecords takes 500 records; a beacon has at most 50 events.
            for chunk in pending.chunks(500) {
                let entries = chunk
                    .iter()
                    .map(|e| {
                        aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                            .data(aws_sdk_kinesis::primitives::Blob::new(json_line(e)))
                            .partition_key(partition_key(e))
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| store_error("building a stream record", e))?;
                match self
                    .kinesis
                    .put_records()
                    .stream_name(&self.stream)
                    .set_records(Some(entries))
                    .send()
                    .await
                {
                    // Each refused record (a throttled shard) is sent again.
                    Ok(out) => {
                        for (e, result) in chunk.iter().zip(out.records()) {
                            if result.error_code().is_some() {
                                refused.push(*e);
                            }
                        }
                    }
                    // The whole call failed past the SDK's own retries:
                    // all of it again, a bounded number of times.
                    Err(e) => {
                        last_error = Some(store_error(
                            "appending events to the measurement stream",
                            aws_sdk_kinesis::Error::from(e),
                        ));
                        refused.extend(chunk.iter().copied());
                    }
                }
            }
            pending = refused;
        }
        if !pending.is_empty() {
            // The player sends the batch again; the copies that did get on
            // the stream are dropped there as duplicates.
            return Err(last_error.unwrap_or_else(|| {
                MeasureStoreError::because(format!(
                    "the measurement stream refused {} of {} events {PUT_ATTEMPTS} times (throttled)",
                    pending.len(),
                    events.len()
                ))
            }));
        }
        let mut summary = RecordSummary::default();
        for e in events {
            summary.add(if e.robot {
                Outcome::Robot
            } else {
                Outcome::Queued
            });
        }
        Ok(summary)
    }
}

/// What the aggregator did with one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Claimed here (this record, or this record delivered again).
    pub claimed: u64,
    /// Claimed before by another record: not counted again.
    pub duplicates: u64,
    /// Counter items updated.
    pub counter_writes: u64,
    /// Counter items this batch had already updated (a batch delivered again).
    pub already_applied: u64,
    /// Viewables without an impression: recorded, counted as invalid.
    pub no_impression: u64,
}

impl std::ops::AddAssign for BatchSummary {
    fn add_assign(&mut self, other: Self) {
        self.claimed += other.claimed;
        self.duplicates += other.duplicates;
        self.counter_writes += other.counter_writes;
        self.already_applied += other.already_applied;
        self.no_impression += other.no_impression;
    }
}

/// The aggregator's store: the counters table and the raw events' Firehose
/// delivery stream.
pub struct CounterStore {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub firehose: aws_sdk_firehose::Client,
    pub delivery_stream: String,
    pub clock: Box<dyn crate::ports::Clock>,
}

impl CounterStore {
    /// One batch of one shard, in stream order: claim, raw copy, counters.
    /// Safe to run again on the same records (the Lambda service delivers a
    /// failed batch again): a record finds its own claims, the raw copy is
    /// sent again (raw is at least once, keyed by event id), and a counter
    /// item that already holds this batch's last sequence number is left.
    pub async fn apply(
        &self,
        shard: &ShardId,
        events: &[StreamEvent],
    ) -> Result<BatchSummary, MeasureStoreError> {
        let Some(last) = events.iter().map(|e| &e.sequence).max() else {
            return Ok(BatchSummary::default());
        };
        let mut summary = BatchSummary::default();
        // The first copy of an event in the batch claims it; later copies
        // are duplicates without a call.
        let mut seen = HashSet::new();
        let firsts: Vec<&StreamEvent> = events
            .iter()
            .filter(|e| seen.insert(e.event.dedupe_key()))
            .collect();
        summary.duplicates += (events.len() - firsts.len()) as u64;
        let expires_at = self.clock.now() + DEDUPE_SECONDS;
        // Claims in stream order; a failed one is tried again in the next
        // round, alone.
        let mut verdicts: Vec<Option<bool>> = vec![None; firsts.len()];
        let mut last_error = None;
        for round in 0..WRITE_ROUNDS {
            let open: Vec<usize> = (0..firsts.len())
                .filter(|&i| verdicts[i].is_none())
                .collect();
            if open.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(RETRY_BASE * 2u32.pow(round - 1)).await;
            }
            let results: Vec<Result<bool, MeasureStoreError>> = futures_util::stream::iter(
                open.iter()
                    .map(|&i| self.claim(shard, firsts[i], expires_at)),
            )
            .buffered(CLAIMS_IN_FLIGHT)
            .collect()
            .await;
            for (&i, result) in open.iter().zip(results) {
                match result {
                    Ok(verdict) => verdicts[i] = Some(verdict),
                    Err(e) => last_error = Some(e),
                }
            }
        }
        let mut claimed = Vec::new();
        for (e, verdict) in firsts.iter().zip(&verdicts) {
            match verdict {
                Some(true) => claimed.push(&e.event),
                Some(false) => summary.duplicates += 1,
                None => {
                    return Err(last_error.unwrap_or_else(|| {
                        MeasureStoreError::because("an event could not be claimed")
                    }))
                }
            }
        }
        summary.claimed = claimed.len() as u64;
        // The viewable rule: a viewable counts after an impression of the
        // same viewer and show, in this batch or in an earlier one (whose
        // impressions left a marker).
        let mut claimed: Vec<Recorded> = claimed.into_iter().cloned().collect();
        let impressed_before = self
            .impressions_counted(&viewables_to_look_up(&claimed))
            .await?;
        mark_viewables_without_impression(&mut claimed, &impressed_before);
        summary.no_impression = claimed.iter().filter(|e| e.no_impression).count() as u64;
        let impressed: BTreeSet<String> = claimed
            .iter()
            .filter(|e| e.measure == Measure::Impression && !e.robot)
            .map(Recorded::viewer_show)
            .collect();
        self.mark_impressions(&impressed, expires_at).await?;
        let claimed: Vec<&Recorded> = claimed.iter().collect();
        self.send_raw(&claimed).await?;
        for update in counter_updates(claimed.iter().copied()) {
            let mut round = 0;
            loop {
                match self.add_to_counter(shard, last, &update).await {
                    Ok(true) => summary.counter_writes += 1,
                    Ok(false) => summary.already_applied += 1,
                    Err(e) if round + 1 < WRITE_ROUNDS => {
                        tracing::warn!(error = %e, "a counter update failed; trying again");
                        tokio::time::sleep(RETRY_BASE * 2u32.pow(round)).await;
                        round += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                break;
            }
        }
        Ok(summary)
    }

    /// One batch's sums onto one counter item, on the condition that the
    /// item does not hold this shard's batch yet (`false`: it does).
    async fn add_to_counter(
        &self,
        shard: &ShardId,
        last: &SequenceNumber,
        update: &CounterUpdate,
    ) -> Result<bool, MeasureStoreError> {
        let mut expression = String::from("ADD ");
        let mut added = Vec::new();
        let mut request = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(update.key.pk()))
            .expression_attribute_names("#seq", shard.applied_attribute())
            .expression_attribute_values(":last", s(last.as_str()))
            .expression_attribute_values(":at", n(update.first_at))
            .expression_attribute_values(":ch", s(&update.channel))
            .expression_attribute_values(":p", s(&update.product))
            .expression_attribute_values(":gpk", s(update.key.report_partition()))
            .expression_attribute_values(":gsk", s(update.key.report_sort()));
        for (i, (name, count)) in update
            .counts
            .iter()
            .map(|(counter, c)| (counter.name(), *c))
            .enumerate()
        {
            added.push(format!("#m{i} :m{i}"));
            request = request
                .expression_attribute_names(format!("#m{i}"), name)
                .expression_attribute_values(format!(":m{i}"), n(count));
        }
        expression.push_str(&added.join(", "));
        expression.push_str(
            " SET first_at = if_not_exists(first_at, :at), channel = :ch, product = :p, gpk = :gpk, gsk = :gsk, #seq = :last",
        );
        match request
            .update_expression(expression)
            .condition_expression("attribute_not_exists(#seq) OR #seq < :last")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_error(
                "adding a batch to a counter",
                aws_sdk_dynamodb::Error::from(e),
            )),
        }
    }

    /// Of `viewer_shows`, those with an impression marker (strongly
    /// consistent reads, 100 keys a call, unprocessed keys again).
    async fn impressions_counted(
        &self,
        viewer_shows: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, MeasureStoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = BTreeSet::new();
        let keys: Vec<String> = viewer_shows.iter().map(|k| marker_key(k)).collect();
        for chunk in keys.chunks(100) {
            let mut pending: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|k| HashMap::from([("pk".to_string(), s(k))]))
                .collect();
            for round in 0..WRITE_ROUNDS {
                if pending.is_empty() {
                    break;
                }
                if round > 0 {
                    tokio::time::sleep(RETRY_BASE * 2u32.pow(round - 1)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(true)
                    .projection_expression("pk")
                    .build()
                    .map_err(|e| store_error("reading impression markers", e))?;
                let out = match self
                    .dynamodb
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                {
                    Ok(out) => out,
                    Err(e) => {
                        tracing::warn!(error = %aws_sdk_dynamodb::Error::from(e), "reading impression markers failed; trying again");
                        continue;
                    }
                };
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let Some(AttributeValue::S(pk)) = item.get("pk") {
                        if let Some(viewer_show) = pk.strip_prefix(MARKER_PREFIX) {
                            found.insert(viewer_show.to_owned());
                        }
                    }
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(MeasureStoreError::because(
                    "impression markers could not be read (throttled); the batch comes again",
                ));
            }
        }
        Ok(found)
    }

    /// A marker per viewer and show with a counted impression (idempotent
    /// puts, 25 a call, unprocessed items again).
    async fn mark_impressions(
        &self,
        viewer_shows: &BTreeSet<String>,
        expires_at: UnixSeconds,
    ) -> Result<(), MeasureStoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let requests: Vec<WriteRequest> = viewer_shows
            .iter()
            .map(|k| {
                PutRequest::builder()
                    .item("pk", s(marker_key(k)))
                    .item("expires_at", n(expires_at))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| store_error("building impression markers", e))?;
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for round in 0..WRITE_ROUNDS {
                if pending.is_empty() {
                    break;
                }
                if round > 0 {
                    tokio::time::sleep(RETRY_BASE * 2u32.pow(round - 1)).await;
                }
                let out = self
                    .dynamodb
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await;
                match out {
                    Ok(out) => {
                        pending = out
                            .unprocessed_items()
                            .and_then(|u| u.get(&self.table))
                            .cloned()
                            .unwrap_or_default();
                    }
                    Err(e) => {
                        tracing::warn!(error = %aws_sdk_dynamodb::Error::from(e), "writing impression markers failed; trying again");
                        pending = chunk.to_vec();
                    }
                }
            }
            if !pending.is_empty() {
                return Err(MeasureStoreError::because(
                    "impression markers could not be written (throttled); the batch comes again",
                ));
            }
        }
        Ok(())
    }

    /// `true`: this record holds the event's claim (new, or its own claim
    /// from an earlier delivery); `false`: another record's.
    async fn claim(
        &self,
        shard: &ShardId,
        e: &StreamEvent,
        expires_at: UnixSeconds,
    ) -> Result<bool, MeasureStoreError> {
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("e#{}", e.event.dedupe_key())))
            .item("claim", s(e.claim(shard)))
            .item("expires_at", n(expires_at))
            .condition_expression("attribute_not_exists(pk) OR claim = :claim")
            .expression_attribute_values(":claim", s(e.claim(shard)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(store_error(
                "claiming an event",
                aws_sdk_dynamodb::Error::from(err),
            )),
        }
    }

    /// The claimed events to Firehose, lines packed into records of up to
    /// [`RAW_RECORD_BYTES`], refused records again a bounded number of
    /// times; failing, the batch fails and comes again.
    async fn send_raw(&self, events: &[&Recorded]) -> Result<(), MeasureStoreError> {
        let mut packed: Vec<Vec<u8>> = Vec::new();
        for e in events {
            let line = json_line(e);
            match packed.last_mut() {
                Some(record) if record.len() + line.len() <= RAW_RECORD_BYTES => {
                    record.extend_from_slice(&line)
                }
                _ => packed.push(line),
            }
        }
        let mut pending: Vec<&Vec<u8>> = packed.iter().collect();
        for attempt in 0..PUT_ATTEMPTS {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(RETRY_BASE * 2u32.pow(attempt - 1)).await;
            }
            let mut refused = Vec::new();
            // PutRecordBatch takes 4 MiB a call.
            for chunk in pending.chunks(RAW_RECORDS_A_CALL) {
                let records = chunk
                    .iter()
                    .map(|data| {
                        aws_sdk_firehose::types::Record::builder()
                            .data(aws_sdk_firehose::primitives::Blob::new(data.as_slice()))
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| store_error("building a Firehose record", e))?;
                let out = self
                    .firehose
                    .put_record_batch()
                    .delivery_stream_name(&self.delivery_stream)
                    .set_records(Some(records))
                    .send()
                    .await
                    .map_err(|e| {
                        store_error(
                            "sending raw events to Firehose",
                            aws_sdk_firehose::Error::from(e),
                        )
                    })?;
                for (data, result) in chunk.iter().zip(out.request_responses()) {
                    if result.error_code().is_some() {
                        refused.push(*data);
                    }
                }
            }
            pending = refused;
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(MeasureStoreError::because(format!(
                "Firehose refused {} records of raw events {PUT_ATTEMPTS} times",
                pending.len()
            )))
        }
    }
}

/// The counters, read for a report: the shows that started in a range of
/// UTC days, by Query on the `report` index. The calls follow the days and
/// the shows, never the events. With the operator's credentials (`adctl
/// report`, `studio-dashboard`) or the report function's (Query on the
/// index only).
pub struct DynamoCounters {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    /// The first and last UTC day read, as Unix seconds within them.
    pub days: (UnixSeconds, UnixSeconds),
}

impl DynamoCounters {
    /// The last [`REPORT_DAYS`] days, and tomorrow (a clock ahead).
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        let now = crate::calendar::unix_now();
        Self {
            dynamodb,
            table: table.into(),
            days: (
                now.saturating_sub((REPORT_DAYS - 1) * DAY_SECONDS),
                now + DAY_SECONDS,
            ),
        }
    }

    /// The days from `from` to `to` (Unix seconds), both included.
    pub fn days(mut self, from: UnixSeconds, to: UnixSeconds) -> Self {
        self.days = (from.min(to), from.max(to));
        self
    }

    /// Each day of the range, `YYYY-MM-DD`; at most 3660.
    fn day_names(&self) -> Result<Vec<String>, MeasureStoreError> {
        let (from, to) = (self.days.0 / DAY_SECONDS, self.days.1 / DAY_SECONDS);
        if to - from >= 3660 {
            return Err(MeasureStoreError::because(format!(
                "a report reads at most 3660 days; {} asked: give a shorter range",
                to - from + 1
            )));
        }
        Ok((from..=to)
            .map(|d| crate::calendar::day_of(d * DAY_SECONDS))
            .collect())
    }

    /// One partition of the index, every page; more than
    /// [`MAX_PAGES_A_DAY`] is an error, never a partial answer.
    async fn query(
        &self,
        partition: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, MeasureStoreError> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        for _ in 0..MAX_PAGES_A_DAY {
            let out = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .index_name(REPORT_INDEX)
                .key_condition_expression("gpk = :d")
                .expression_attribute_values(":d", s(partition))
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
        Err(MeasureStoreError::because(format!(
            "the counters of {partition} are more than {MAX_PAGES_A_DAY} pages: report on fewer days"
        )))
    }

    /// Every show of the range, newest first.
    pub async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
        let mut shows = Vec::new();
        for day in self.day_names()? {
            for item in self.query(&show_day_partition(&day)).await? {
                let pk = text(&item, "pk");
                // One item a show; its replays' counters make a row apart.
                for replay in [false, true] {
                    let mut c = ShowCounts {
                        channel: text(&item, "channel"),
                        product: text(&item, "product"),
                        show: pk
                            .rsplit('#')
                            .next()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0),
                        replay,
                        first_at: num(&item, "first_at"),
                        ..ShowCounts::default()
                    };
                    let mut any = false;
                    for counter in Counter::all(replay) {
                        let n = num(&item, &counter.name());
                        any |= n > 0;
                        c.add_counter(counter, n);
                    }
                    if any || !replay {
                        shows.push(c);
                    }
                }
            }
        }
        shows.sort_by(ShowCounts::report_order);
        Ok(shows)
    }

    /// Counts per hour, channel, product and measure, oldest hour first.
    pub async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
        let mut hours = Vec::new();
        for day in self.day_names()? {
            for item in self.query(&hour_partition(&day)).await? {
                let pk = text(&item, "pk");
                let hour = pk.split('#').nth(1).unwrap_or("").to_owned();
                for counter in Counter::all(false).chain(Counter::all(true)) {
                    let Some(measure) = counter.measure else {
                        continue;
                    };
                    let count = num(&item, &counter.name());
                    if count > 0 {
                        hours.push(HourCount {
                            hour: hour.clone(),
                            channel: text(&item, "channel"),
                            product: text(&item, "product"),
                            measure,
                            replay: counter.replay,
                            count,
                        });
                    }
                }
            }
        }
        hours.sort_by(|a, b| {
            (&a.hour, &a.channel, &a.product, a.replay, a.measure)
                .cmp(&(&b.hour, &b.channel, &b.product, b.replay, b.measure))
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
impl MeasureReader for DynamoCounters {
    async fn shows(&self) -> Result<Vec<ShowCounts>, MeasureStoreError> {
        DynamoCounters::shows(self).await
    }

    async fn hours(&self) -> Result<Vec<HourCount>, MeasureStoreError> {
        DynamoCounters::hours(self).await
    }
}

/// Raw files read at most, a reconciliation (a day of a busy stack is a few
/// thousand Firehose objects).
pub const MAX_RAW_FILES: usize = 100_000;

/// What [`read_raw_events`] found.
#[derive(Debug, Default)]
pub struct RawEvents {
    pub events: Vec<Recorded>,
    pub files: usize,
    /// Lines that were not events (skipped).
    pub bad_lines: usize,
}

/// Every raw event under the given prefixes of the events bucket (gzip or
/// plain JSON lines, as Firehose delivers them). More than
/// [`MAX_RAW_FILES`] files is an error, never a partial recount.
pub async fn read_raw_events(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefixes: &[String],
) -> Result<RawEvents, MeasureStoreError> {
    let mut raw = RawEvents::default();
    for prefix in prefixes {
        let mut pages = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| store_error("listing the raw events", aws_sdk_s3::Error::from(e)))?;
            for object in page.contents() {
                raw.files += 1;
                if raw.files > MAX_RAW_FILES {
                    return Err(MeasureStoreError::because(format!(
                        "more than {MAX_RAW_FILES} raw files: reconcile fewer days"
                    )));
                }
                let key = object.key().unwrap_or_default();
                let body = s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| {
                        store_error("reading a raw events file", aws_sdk_s3::Error::from(e))
                    })?
                    .body
                    .collect()
                    .await
                    .map_err(|e| store_error("reading a raw events file", e))?
                    .into_bytes();
                let (events, bad) = crate::reconcile::read_raw_file(&body)
                    .map_err(|e| store_error(&format!("s3://{bucket}/{key}"), e))?;
                raw.events.extend(events);
                raw.bad_lines += bad;
            }
        }
    }
    Ok(raw)
}
