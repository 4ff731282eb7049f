//! Reconciliation: the raw events (what Firehose delivered to S3) recounted
//! and compared with the counters, per show and measure. `adctl reconcile`
//! runs it over a range of days; the S3 side is
//! [`crate::measure_aws::read_raw_events`].
//!
//! Raw events are at least once (a stream batch delivered again sends its
//! events again), so they are recounted by dedupe key; invalid traffic
//! (robots' events, viewables without an impression: each raw event says)
//! is left out, as the measures' counters leave it out.

use crate::measure::{Measure, Recorded, ShowCounts, UnixSeconds};
use std::collections::{BTreeMap, HashSet};
use std::io::Read;

/// A show's counters: channel, product, show id, and replay (apart from live).
pub type ShowKey = (String, String, u64, bool);

/// One measure of one show whose raw count and counter disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub channel: String,
    pub product: String,
    pub show: u64,
    /// The show's replays' counters (apart from live).
    pub replay: bool,
    pub measure: Measure,
    /// Distinct events of this measure in the raw files.
    pub raw: u64,
    /// What the counter says.
    pub counted: u64,
}

/// A raw file that is not what Firehose writes.
#[derive(Debug, thiserror::Error)]
pub enum RawFileError {
    #[error("not gzip as Firehose writes it (GZIP on the delivery stream): {0}")]
    Gzip(#[source] std::io::Error),
    #[error("over {limit} bytes once unpacked; a Firehose object is at most a few MB")]
    TooLarge { limit: u64 },
}

/// A raw file unpacked is at most this (Firehose buffers 5 MB).
pub const MAX_RAW_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// One raw file's events: gzip or plain JSON lines. A line that is not an
/// event is counted in the second value and skipped, never guessed at.
pub fn read_raw_file(bytes: &[u8]) -> Result<(Vec<Recorded>, usize), RawFileError> {
    let mut text = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_RAW_FILE_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(RawFileError::Gzip)?;
        if text.len() as u64 > MAX_RAW_FILE_BYTES {
            return Err(RawFileError::TooLarge {
                limit: MAX_RAW_FILE_BYTES,
            });
        }
    } else {
        text.extend_from_slice(bytes);
    }
    let mut events = Vec::new();
    let mut bad = 0;
    for line in text.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Recorded>(line) {
            Ok(e) => events.push(e),
            Err(_) => bad += 1,
        }
    }
    Ok((events, bad))
}

/// Distinct counted events per show and measure.
pub fn raw_counts<'a>(
    events: impl IntoIterator<Item = &'a Recorded>,
) -> BTreeMap<ShowKey, BTreeMap<Measure, u64>> {
    let mut seen = HashSet::new();
    let mut counts: BTreeMap<ShowKey, BTreeMap<Measure, u64>> = BTreeMap::new();
    for e in events {
        if e.invalid() || !seen.insert(e.dedupe_key()) {
            continue;
        }
        *counts
            .entry((e.channel.clone(), e.product.clone(), e.show, e.replay))
            .or_default()
            .entry(e.measure)
            .or_default() += 1;
    }
    counts
}

/// Every measure of every show where the raw events and the counters
/// disagree, shows in order. A show in only one of them is compared with
/// zeros.
pub fn differences(
    raw: &BTreeMap<ShowKey, BTreeMap<Measure, u64>>,
    counters: &[ShowCounts],
) -> Vec<Difference> {
    let counted: BTreeMap<ShowKey, &ShowCounts> = counters
        .iter()
        .map(|c| ((c.channel.clone(), c.product.clone(), c.show, c.replay), c))
        .collect();
    let shows: std::collections::BTreeSet<&ShowKey> = raw.keys().chain(counted.keys()).collect();
    let mut out = Vec::new();
    for key in shows {
        for measure in Measure::ALL {
            let r = raw
                .get(key)
                .and_then(|m| m.get(&measure))
                .copied()
                .unwrap_or(0);
            let c = counted.get(key).map_or(0, |c| c.get(measure));
            if r != c {
                out.push(Difference {
                    channel: key.0.clone(),
                    product: key.1.clone(),
                    show: key.2,
                    replay: key.3,
                    measure,
                    raw: r,
                    counted: c,
                });
            }
        }
    }
    out
}

/// The raw events' folders of the days from `from` to `to` (Unix seconds,
/// both included): Firehose writes `<prefix>dt=YYYY-MM-DD/`.
pub fn day_prefixes(prefix: &str, from: UnixSeconds, to: UnixSeconds) -> Vec<String> {
    use crate::calendar::{day_of, DAY_SECONDS};
    (from / DAY_SECONDS..=to / DAY_SECONDS)
        .map(|d| format!("{prefix}dt={}/", day_of(d * DAY_SECONDS)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn event(viewer: &str, id: &str, measure: Measure, robot: bool) -> Recorded {
        Recorded {
            event_id: id.into(),
            viewer: viewer.into(),
            measure,
            channel: "c".into(),
            product: "p".into(),
            show: 7,
            at: 1_790_000_000,
            robot,
            no_impression: false,
            replay: false,
        }
    }

    #[test]
    fn raw_files_are_read_gzip_or_plain_and_bad_lines_are_counted() {
        let good = serde_json::to_string(&event("v", "e1", Measure::Impression, false)).unwrap();
        let plain = format!("{good}\nnot json\n\n{good}\n");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(plain.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        for bytes in [plain.as_bytes(), gz.as_slice()] {
            let (events, bad) = read_raw_file(bytes).unwrap();
            assert_eq!((events.len(), bad), (2, 1));
        }
        assert!(read_raw_file(&[0x1f, 0x8b, 1, 2, 3]).is_err());
    }

    #[test]
    fn copies_and_robots_are_not_recounted_and_every_disagreement_is_named() {
        let raw = [
            event("v", "e1", Measure::Impression, false),
            event("v", "e1", Measure::Impression, false),
            event("w", "e1", Measure::Impression, false),
            event("v", "e2", Measure::Viewable, false),
            event("bot", "e3", Measure::Impression, true),
        ];
        let counts = raw_counts(&raw);
        let mut counter = ShowCounts {
            channel: "c".into(),
            product: "p".into(),
            show: 7,
            ..ShowCounts::default()
        };
        counter.add(Measure::Impression, 2);
        counter.add(Measure::Viewable, 1);
        assert_eq!(differences(&counts, std::slice::from_ref(&counter)), vec![]);
        counter.add(Measure::Impression, 1);
        let mut other = counter.clone();
        other.show = 8;
        let found = differences(&counts, &[counter, other]);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!((found[0].raw, found[0].counted), (2, 3));
        assert_eq!((found[1].show, found[1].raw), (8, 0));
    }

    #[test]
    fn a_days_raw_events_are_its_own_folder() {
        assert_eq!(
            day_prefixes("events/", 0, 86_400),
            vec!["events/dt=1970-01-01/", "events/dt=1970-01-02/"]
        );
    }
}
