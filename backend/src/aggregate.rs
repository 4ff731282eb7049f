//! The aggregator's core: a batch of the measurement stream, read into
//! events and summed into one update per counter. Pure; the DynamoDB and
//! Firehose side is [`crate::measure_aws::CounterStore`], the Lambda's
//! event is [`crate::aggregator`].
//!
//! Why a stream and an aggregator (docs/measurement.md has the argument):
//! the collector's request path writes nothing shared. It appends accepted
//! events to a Kinesis stream; the aggregator, one invocation at a time per
//! shard, claims each event by its dedupe record and adds the batch's sums
//! to each counter in **one** conditional update per counter item, which
//! also records the shard's last sequence number applied. So a counter item
//! takes at most one write per shard per batch, whatever the audience, and
//! a batch the Lambda service delivers again adds nothing twice.

use crate::calendar::{day_of, UnixSeconds};
use crate::measure::{Counter, Measure, Recorded};
use std::collections::{BTreeMap, BTreeSet};

/// Kinesis sequence numbers are decimal, up to 128 digits; padded to this
/// width they compare as strings the way they compare as numbers, which is
/// how DynamoDB compares them in a condition.
pub const SEQUENCE_WIDTH: usize = 128;

/// A record's place in its shard, comparable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    /// Digits only, at most [`SEQUENCE_WIDTH`] of them.
    pub fn parse(text: &str) -> Result<Self, StreamRecordError> {
        if text.is_empty()
            || text.len() > SEQUENCE_WIDTH
            || !text.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(StreamRecordError::Sequence(
                text.chars().take(140).collect(),
            ));
        }
        Ok(Self(format!("{text:0>SEQUENCE_WIDTH$}")))
    }

    /// Padded to [`SEQUENCE_WIDTH`].
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stream record the aggregator cannot use. Only the collector writes the
/// stream, so this is a bug or a foreign writer: the record is logged and
/// skipped (retrying it could never succeed, and would hold the shard).
#[derive(Debug, thiserror::Error)]
pub enum StreamRecordError {
    #[error("sequence number {0:?} is not 1 to 128 digits")]
    Sequence(String),
    #[error(
        "shard id {0:?} is not a Kinesis shard id (letters, digits, '-' and '_', at most 128)"
    )]
    Shard(String),
    #[error(
        "the record's data is not a measurement event (backend::measure::Recorded as JSON): {0}"
    )]
    Data(#[source] serde_json::Error),
}

/// The shard a record came from: names a counter item's attribute, so it is
/// checked to be a plain identifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(String);

impl ShardId {
    pub fn parse(text: &str) -> Result<Self, StreamRecordError> {
        if text.is_empty()
            || text.len() > 128
            || !text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StreamRecordError::Shard(text.chars().take(140).collect()));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The counter item's attribute holding this shard's last applied
    /// sequence number.
    pub fn applied_attribute(&self) -> String {
        format!("seq_{}", self.0)
    }
}

/// One event read from the stream, where it sat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    pub sequence: SequenceNumber,
    pub event: Recorded,
}

impl StreamEvent {
    /// The claim its dedupe record carries: a record claims an event once,
    /// and the same record delivered again finds its own claim.
    pub fn claim(&self, shard: &ShardId) -> String {
        format!(
            "{}/{}",
            shard.as_str(),
            self.sequence.as_str().trim_start_matches('0')
        )
    }
}

/// A record's data (the collector's JSON line) as an event.
pub fn decode_event(data: &[u8]) -> Result<Recorded, StreamRecordError> {
    serde_json::from_slice(data).map_err(StreamRecordError::Data)
}

/// One counter item: a show's (what the report reads) or an hour's (the
/// dashboard's charts).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CounterKey {
    Show {
        channel: String,
        product: String,
        show: u64,
    },
    Hour {
        hour: String,
        channel: String,
        product: String,
    },
}

/// The report index's partition of a show's counters: the UTC day the show
/// started (its id is the window's opening, Unix ms).
pub fn show_partition(show: u64) -> String {
    show_day_partition(&day_of(show / 1000))
}

/// The report index's partition of the shows that started on a day
/// (`YYYY-MM-DD`).
pub fn show_day_partition(day: &str) -> String {
    format!("s#{day}")
}

/// The report index's partition of an hour's counters: its UTC day.
pub fn hour_partition(day: &str) -> String {
    format!("h#{day}")
}

impl CounterKey {
    /// The table's key.
    pub fn pk(&self) -> String {
        match self {
            Self::Show {
                channel,
                product,
                show,
            } => format!("s#{channel}#{product}#{show}"),
            Self::Hour {
                hour,
                channel,
                product,
            } => format!("h#{hour}#{channel}#{product}"),
        }
    }

    /// The report index's partition: one per UTC day and kind, so a report
    /// over a range reads one partition a day with Query.
    pub fn report_partition(&self) -> String {
        match self {
            Self::Show { show, .. } => show_partition(*show),
            Self::Hour { hour, .. } => hour_partition(hour.get(..10).unwrap_or(hour)),
        }
    }

    /// The report index's sort key, in the order the report lists them.
    pub fn report_sort(&self) -> String {
        match self {
            Self::Show {
                channel,
                product,
                show,
            } => format!("{channel}#{product}#{show}"),
            Self::Hour {
                hour,
                channel,
                product,
            } => format!("{hour}#{channel}#{product}"),
        }
    }
}

/// What one batch adds to one counter item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterUpdate {
    pub key: CounterKey,
    pub channel: String,
    pub product: String,
    /// Events per counter (measure or invalid traffic, live or replay);
    /// only counters with events are present. Invalid traffic
    /// ([`Recorded::invalid`]) is on a show's item only.
    pub counts: BTreeMap<Counter, u64>,
    /// The earliest event's time.
    pub first_at: UnixSeconds,
}

/// The counter updates a set of claimed events makes: one per show and
/// product, one per hour and product; invalid traffic only in the show's
/// invalid counters. The number of updates follows the shows and hours in the
/// batch, never its events.
pub fn counter_updates<'a>(events: impl IntoIterator<Item = &'a Recorded>) -> Vec<CounterUpdate> {
    let mut updates: BTreeMap<CounterKey, CounterUpdate> = BTreeMap::new();
    for e in events {
        let show = CounterKey::Show {
            channel: e.channel.clone(),
            product: e.product.clone(),
            show: e.show,
        };
        let hour = CounterKey::Hour {
            hour: e.hour(),
            channel: e.channel.clone(),
            product: e.product.clone(),
        };
        let keys = if e.invalid() {
            vec![show]
        } else {
            vec![show, hour]
        };
        for key in keys {
            let update = updates.entry(key.clone()).or_insert_with(|| CounterUpdate {
                key,
                channel: e.channel.clone(),
                product: e.product.clone(),
                counts: BTreeMap::new(),
                first_at: e.at,
            });
            *update.counts.entry(Counter::of(e)).or_default() += 1;
            update.first_at = update.first_at.min(e.at);
        }
    }
    updates.into_values().collect()
}

/// The viewer-shows of a batch's viewables that have no impression before
/// them in the batch (stream order): whether an earlier batch counted one
/// must be looked up. Robots' events are invalid anyway.
pub fn viewables_to_look_up<'a>(
    events: impl IntoIterator<Item = &'a Recorded>,
) -> BTreeSet<String> {
    let mut impressed = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for e in events.into_iter().filter(|e| !e.robot) {
        match e.measure {
            Measure::Impression => {
                impressed.insert(e.viewer_show());
            }
            Measure::Viewable if !impressed.contains(&e.viewer_show()) => {
                unknown.insert(e.viewer_show());
            }
            _ => {}
        }
    }
    unknown
}

/// Marks each viewable with no valid impression of the same viewer and show
/// before it in `events` (stream order), nor in `impressed_before` (the
/// looked-up viewer-shows an earlier batch counted an impression of), as
/// [`Recorded::no_impression`]. The verdict depends on the batch and the
/// batches before it only, so a batch delivered again gets the same one:
/// the measurement stream keeps one viewer's events of a show in order on
/// one shard (its partition key is [`Recorded::viewer_show`]).
pub fn mark_viewables_without_impression(
    events: &mut [Recorded],
    impressed_before: &BTreeSet<String>,
) {
    let mut impressed = BTreeSet::new();
    for e in events.iter_mut().filter(|e| !e.robot) {
        match e.measure {
            Measure::Impression => {
                impressed.insert(e.viewer_show());
            }
            Measure::Viewable => {
                let key = e.viewer_show();
                e.no_impression = !impressed.contains(&key) && !impressed_before.contains(&key);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(i: u64, measure: Measure, show: u64, robot: bool) -> Recorded {
        Recorded {
            event_id: format!("e{i}"),
            viewer: "v".into(),
            measure,
            channel: format!("ch{}", show % 3),
            product: "mug".into(),
            show,
            at: 1_790_000_000 + i * 600,
            robot,
            no_impression: false,
            replay: false,
        }
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        let small = SequenceNumber::parse("9").unwrap();
        let big = SequenceNumber::parse("10").unwrap();
        assert!(small < big);
        assert_eq!(big.as_str().len(), SEQUENCE_WIDTH);
        for bad in ["", "12a", "-1", &"1".repeat(129)] {
            assert!(SequenceNumber::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ShardId::parse("shardId-000000000001").is_ok());
        assert!(ShardId::parse("shard id").is_err());
        assert!(ShardId::parse("").is_err());
    }

    #[test]
    fn a_record_that_is_not_an_event_names_the_problem() {
        let e = decode_event(b"{\"event_id\":1}").unwrap_err();
        assert!(e.to_string().contains("not a measurement event"), "{e}");
        let good = event(1, Measure::Scan, 5_000, false);
        let line = serde_json::to_vec(&good).unwrap();
        assert_eq!(decode_event(&line).unwrap(), good);
    }

    #[test]
    fn the_report_partitions_by_day() {
        let show = CounterKey::Show {
            channel: "c".into(),
            product: "p".into(),
            show: 1_790_000_000_123,
        };
        assert_eq!(show.report_partition(), "s#2026-09-21");
        let hour = CounterKey::Hour {
            hour: "2026-09-21T14".into(),
            channel: "c".into(),
            product: "p".into(),
        };
        assert_eq!(hour.report_partition(), "h#2026-09-21");
        assert_eq!(hour.pk(), "h#2026-09-21T14#c#p");
    }

    proptest! {
        /// Whatever the order of a viewer's events, a counted viewable has
        /// a counted impression of the same viewer and show before it (in
        /// the batch or looked up), so the view rate cannot pass 1; and a
        /// viewable with one is never marked.
        #[test]
        fn a_viewable_counts_only_after_its_impression(
            spec in proptest::collection::vec((0usize..3, 0u64..3, 0u64..2, any::<bool>()), 0..60),
            before in proptest::collection::btree_set((0usize..3, 0u64..2), 0..4),
        ) {
            let mut events: Vec<Recorded> = spec
                .iter()
                .enumerate()
                .map(|(i, (viewer, show, kind, robot))| Recorded {
                    viewer: format!("v{viewer}"),
                    ..event(i as u64, if *kind == 0 { Measure::Impression } else { Measure::Viewable }, *show, *robot)
                })
                .collect();
            let impressed_before: BTreeSet<String> = before
                .iter()
                .map(|(v, show)| Recorded { viewer: format!("v{v}"), ..event(0, Measure::Impression, *show, false) }.viewer_show())
                .collect();
            let asked = viewables_to_look_up(&events);
            mark_viewables_without_impression(&mut events, &impressed_before);
            for (i, e) in events.iter().enumerate() {
                if e.measure != Measure::Viewable || e.robot {
                    prop_assert!(!e.no_impression);
                    continue;
                }
                let key = e.viewer_show();
                let in_batch = events[..i].iter().any(|o| !o.robot && o.measure == Measure::Impression && o.viewer_show() == key);
                prop_assert_eq!(e.no_impression, !in_batch && !impressed_before.contains(&key));
                if !in_batch {
                    prop_assert!(asked.contains(&key), "a viewable without an impression in the batch is looked up");
                }
            }
        }

        /// The updates carry every counted event exactly once, robots none,
        /// and there is one update per distinct counter item.
        #[test]
        fn updates_sum_every_counted_event_once(
            spec in proptest::collection::vec((0usize..6, 0u64..5, any::<bool>()), 0..200)
        ) {
            let events: Vec<Recorded> = spec
                .iter()
                .enumerate()
                .map(|(i, (m, show, robot))| event(i as u64, Measure::ALL[*m], *show, *robot))
                .collect();
            let updates = counter_updates(&events);
            let counted = events.iter().filter(|e| !e.robot).count() as u64;
            let invalid: u64 = updates
                .iter()
                .flat_map(|u| &u.counts)
                .filter(|(c, _)| c.measure.is_none())
                .map(|(_, n)| n)
                .sum();
            prop_assert_eq!(invalid, events.len() as u64 - counted);
            let in_shows: u64 = updates
                .iter()
                .filter(|u| matches!(u.key, CounterKey::Show { .. }))
                .flat_map(|u| &u.counts)
                .filter(|(c, _)| c.measure.is_some())
                .map(|(_, n)| n)
                .sum();
            let in_hours: u64 = updates
                .iter()
                .filter(|u| matches!(u.key, CounterKey::Hour { .. }))
                .flat_map(|u| u.counts.values())
                .sum();
            prop_assert_eq!(in_shows, counted);
            prop_assert_eq!(in_hours, counted);
            let mut keys: Vec<_> = updates.iter().map(|u| u.key.pk()).collect();
            let n = keys.len();
            keys.sort();
            keys.dedup();
            prop_assert_eq!(keys.len(), n);
            let shows: std::collections::BTreeSet<_> = events
                .iter()
                .map(|e| (e.channel.clone(), e.show))
                .collect();
            prop_assert_eq!(
                updates.iter().filter(|u| matches!(u.key, CounterKey::Show { .. })).count(),
                shows.len()
            );
        }
    }
}
