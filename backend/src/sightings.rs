//! What the detector saw on each thumbnail and what the decision core did
//! with it, for the operator's console: every detection with its box, label
//! and confidence, and its verdict (shown, held by cooldown, at the card
//! limit, below confidence, paused).
//!
//! The on-thumbnail handler hands one [`Sighting`] per thumbnail to the
//! pipeline's [`SightingLog`], after the decision is written. Keeping them is
//! the log's business: the studio keeps the last few minutes in memory
//! ([`RecentSightings`]); a log that fails loses a console line, never a
//! decision.

use crate::decision::{BoundingBox, Detection, LabelDecision, Outcome};
use async_trait::async_trait;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// One thumbnail as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sighting {
    /// Numbered by the log that keeps it (0 until then), so a page can ask
    /// for this thumbnail's image and tell new sightings from old.
    pub seq: u64,
    pub channel: String,
    /// The thumbnail's object key (decoded).
    pub key: String,
    /// When it was decided on, Unix seconds by the pipeline's clock.
    pub at: u64,
    /// Every detection, in the detector's order.
    pub found: Vec<Found>,
    /// The cue this thumbnail caused, as published, if any.
    pub cue: Option<String>,
}

/// One detection and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    pub label: String,
    /// The catalog product the label means, if any.
    pub product: Option<String>,
    /// 0 to 100.
    pub confidence: f32,
    /// Ratios of the image size, as Rekognition reports them.
    pub bounding_box: Option<RatioBox>,
    /// `shown`, `already_showing`, `cooling_down`, `below_confidence`,
    /// `over_limit`, `unknown_label` or `paused` ([`Outcome::as_str`]).
    pub verdict: &'static str,
    /// How long the cooldown, the card or the pause has left, where it
    /// applies.
    pub seconds_left: Option<u64>,
    /// The product's threshold, for `below_confidence`.
    pub min_confidence: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatioBox {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

impl From<BoundingBox> for RatioBox {
    fn from(b: BoundingBox) -> Self {
        Self {
            left: b.left,
            top: b.top,
            width: b.width,
            height: b.height,
        }
    }
}

impl Sighting {
    /// The sighting of `detections` and the decision core's verdicts on
    /// them (one per detection, in the same order).
    pub fn new(
        channel: &str,
        key: &str,
        at: u64,
        detections: &[Detection],
        verdicts: &[LabelDecision],
        cue: Option<String>,
    ) -> Self {
        let found = detections
            .iter()
            .zip(verdicts)
            .map(|(d, v)| {
                let (seconds_left, min_confidence) = match v.outcome {
                    Outcome::AlreadyShowing { seconds_left }
                    | Outcome::CoolingDown { seconds_left }
                    | Outcome::Paused { seconds_left } => (Some(seconds_left), None),
                    Outcome::BelowConfidence { min_confidence } => (None, Some(min_confidence)),
                    Outcome::Shown | Outcome::OverLimit | Outcome::UnknownLabel => (None, None),
                };
                Found {
                    label: d.label.clone(),
                    product: v.product.as_ref().map(|p| p.as_str().to_string()),
                    confidence: d.confidence,
                    bounding_box: d.bounding_box.map(RatioBox::from),
                    verdict: v.outcome.as_str(),
                    seconds_left,
                    min_confidence,
                }
            })
            .collect();
        Self {
            seq: 0,
            channel: channel.to_string(),
            key: key.to_string(),
            at,
            found,
            cue,
        }
    }
}

/// Where the handler puts each [`Sighting`], and where the operator reads
/// them back.
#[async_trait]
pub trait SightingLog: Send + Sync {
    async fn record(&self, sighting: Sighting);

    /// The channel's newest sightings, newest first, at most `limit`, as the
    /// console reads them (JSON).
    async fn newest_of(
        &self,
        channel: &str,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, crate::ports::ServiceError>;

    /// The image of a sighting's thumbnail (its object key), `None` where
    /// this log does not serve images (the studio serves its own).
    async fn thumbnail(&self, _key: &str) -> Result<Option<Vec<u8>>, crate::ports::ServiceError> {
        Ok(None)
    }
}

/// The last `capacity` sightings, in memory, numbered from 1.
pub struct RecentSightings {
    capacity: usize,
    kept: Mutex<(u64, VecDeque<Sighting>)>,
}

impl RecentSightings {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            kept: Mutex::new((0, VecDeque::new())),
        }
    }

    /// The sightings kept, newest first, at most `limit`.
    pub fn newest(&self, limit: usize) -> Vec<Sighting> {
        match self.kept.lock() {
            Ok(kept) => kept.1.iter().rev().take(limit).cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The sighting numbered `seq`, while it is kept.
    pub fn get(&self, seq: u64) -> Option<Sighting> {
        let kept = self.kept.lock().ok()?;
        kept.1.iter().find(|s| s.seq == seq).cloned()
    }
}

#[async_trait]
impl SightingLog for RecentSightings {
    async fn record(&self, mut sighting: Sighting) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.0 += 1;
            sighting.seq = kept.0;
            kept.1.push_back(sighting);
            while kept.1.len() > self.capacity {
                kept.1.pop_front();
            }
        }
    }

    async fn newest_of(
        &self,
        channel: &str,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, crate::ports::ServiceError> {
        let kept = self
            .kept
            .lock()
            .map_err(|_| crate::ports::ServiceError::from("the sightings' lock is poisoned"))?;
        Ok(kept
            .1
            .iter()
            .rev()
            .filter(|s| s.channel == channel)
            .take(limit)
            .filter_map(|s| serde_json::to_value(s).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ad_contract::ProductId;

    fn detection(label: &str, confidence: f32) -> Detection {
        Detection {
            label: label.into(),
            confidence,
            bounding_box: Some(BoundingBox {
                left: 0.1,
                top: 0.2,
                width: 0.3,
                height: 0.4,
            }),
        }
    }

    #[test]
    fn a_sighting_pairs_each_detection_with_its_verdict() {
        let detections = [detection("kestrel", 91.0), detection("lumen", 40.0)];
        let verdicts = [
            LabelDecision {
                label: "kestrel".into(),
                product: ProductId::parse("kestrel").ok(),
                confidence: 91.0,
                outcome: Outcome::CoolingDown { seconds_left: 12 },
            },
            LabelDecision {
                label: "lumen".into(),
                product: ProductId::parse("lumen").ok(),
                confidence: 40.0,
                outcome: Outcome::BelowConfidence {
                    min_confidence: 60.0,
                },
            },
        ];
        let s = Sighting::new("arn", "k.jpg", 7, &detections, &verdicts, None);
        assert_eq!(s.found.len(), 2);
        assert_eq!(s.found[0].verdict, "cooling_down");
        assert_eq!(s.found[0].seconds_left, Some(12));
        assert_eq!(s.found[0].product.as_deref(), Some("kestrel"));
        assert_eq!(s.found[1].verdict, "below_confidence");
        assert_eq!(s.found[1].min_confidence, Some(60.0));
        assert_eq!(s.found[1].bounding_box.map(|b| b.width), Some(0.3));
    }

    #[tokio::test]
    async fn the_recent_log_keeps_the_newest_and_numbers_them() {
        let log = RecentSightings::new(3);
        for at in 0..5 {
            log.record(Sighting::new("arn", "k", at, &[], &[], None))
                .await;
        }
        let newest = log.newest(10);
        assert_eq!(
            newest.iter().map(|s| (s.seq, s.at)).collect::<Vec<_>>(),
            vec![(5, 4), (4, 3), (3, 2)]
        );
        assert_eq!(log.get(4).map(|s| s.at), Some(3));
        assert!(log.get(1).is_none(), "dropped past the capacity");
    }

    #[tokio::test]
    async fn a_channels_sightings_read_back_newest_first_as_json() {
        let log = RecentSightings::new(10);
        for (at, channel) in [(1, "a"), (2, "b"), (3, "a"), (4, "a")] {
            log.record(Sighting::new(channel, "k", at, &[], &[], None))
                .await;
        }
        let read = log.newest_of("a", 2).await.unwrap_or_default();
        let at: Vec<u64> = read.iter().filter_map(|s| s["at"].as_u64()).collect();
        assert_eq!(at, vec![4, 3]);
        assert!(read.iter().all(|s| s["channel"] == "a"));
    }
}
