//! What is counted: the measures, an accepted event as it is recorded,
//! what a store did with each, and the collector's answer to a batch.

use super::*;

/// What the collector counts: the player's four events and the two ways
/// through a tracking link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    Impression,
    Viewable,
    Open,
    Dismiss,
    Click,
    Scan,
}

impl Measure {
    pub const ALL: [Measure; 6] = [
        Measure::Impression,
        Measure::Viewable,
        Measure::Open,
        Measure::Dismiss,
        Measure::Click,
        Measure::Scan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Impression => "impression",
            Measure::Viewable => "viewable",
            Measure::Open => "open",
            Measure::Dismiss => "dismiss",
            Measure::Click => "click",
            Measure::Scan => "scan",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// One counter: a measure, or the invalid traffic, seen live or in replays
/// of a recorded show. Replays are counted apart from live: a show's replay
/// audience may be larger than its live one, and an advertiser buys them
/// separately. Its name is the counter's column (SQLite) or attribute
/// (DynamoDB): `impression`, `invalid`; `replay_impression`, `replay_invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Counter {
    /// `None`: invalid traffic ([`Recorded::invalid`]).
    pub measure: Option<Measure>,
    pub replay: bool,
}

impl Counter {
    /// What `event` adds to: its measure, or invalid traffic.
    pub fn of(event: &Recorded) -> Self {
        Self {
            measure: (!event.invalid()).then_some(event.measure),
            replay: event.replay,
        }
    }

    /// Every counter of one audience, measures first, then invalid.
    pub fn all(replay: bool) -> impl Iterator<Item = Counter> {
        Measure::ALL
            .into_iter()
            .map(Some)
            .chain([None])
            .map(move |measure| Counter { measure, replay })
    }

    pub fn name(self) -> String {
        let measure = self.measure.map_or("invalid", Measure::as_str);
        if self.replay {
            format!("replay_{measure}")
        } else {
            measure.to_owned()
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        let (replay, measure) = match name.strip_prefix("replay_") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let measure = match measure {
            "invalid" => None,
            other => Some(Measure::parse(other)?),
        };
        Some(Self { measure, replay })
    }
}

impl From<ad_contract::measure::EventKind> for Measure {
    fn from(kind: ad_contract::measure::EventKind) -> Self {
        use ad_contract::measure::EventKind;
        match kind {
            EventKind::Impression => Measure::Impression,
            EventKind::Viewable => Measure::Viewable,
            EventKind::Open => Measure::Open,
            EventKind::Dismiss => Measure::Dismiss,
        }
    }
}

impl From<LinkKind> for Measure {
    fn from(kind: LinkKind) -> Self {
        match kind {
            LinkKind::Scan => Measure::Scan,
            LinkKind::Click => Measure::Click,
        }
    }
}

/// One accepted event, as the store records it, the measurement stream
/// carries it and Firehose delivers it (one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// Unique per counted thing: the player's event id, or for a link the
    /// hash of link, client and [`LINK_WINDOW_SECONDS`] window (one count
    /// per client per link per window, however often it is fetched).
    pub event_id: String,
    /// The player's viewer id; empty for a scan (a phone has none).
    pub viewer: String,
    pub measure: Measure,
    pub channel: String,
    pub product: String,
    pub show: u64,
    /// Unix seconds when the collector received it.
    pub at: UnixSeconds,
    /// A known robot's user agent: recorded, never counted.
    pub robot: bool,
    /// A viewable with no impression of the same viewer and show before
    /// it: recorded, never counted (invalid traffic; the view rate cannot
    /// pass 1). Decided by the store that counts; absent in raw events
    /// written before the rule.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_impression: bool,
    /// Seen in a replay of a recorded show (the player's batch said so, or
    /// the link was a replay's `qr.`/`or.`); absent for live.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
}

impl Recorded {
    /// Invalid traffic (MRC's "general invalid traffic"): a robot's, or a
    /// viewable without its impression. Recorded, kept raw, never counted;
    /// the report gives its share.
    pub fn invalid(&self) -> bool {
        self.robot || self.no_impression
    }

    /// One viewer's view of one show: what a viewable and its impression
    /// share (the measurement stream's partition key for player events, so
    /// they arrive in order).
    pub fn viewer_show(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.viewer, self.channel, self.product, self.show
        )
    }

    /// The hour the counters file it under (`YYYY-MM-DDTHH`, UTC).
    pub fn hour(&self) -> String {
        crate::calendar::hour_of(self.at)
    }

    /// What makes it the same event: a player's event, its id within its
    /// viewer (players pick ids per page, so two pages may pick the same
    /// one); a link's, its id alone, which the collector derives from the
    /// client, never from the client-chosen `?v=` (a loop over `?v=$i`
    /// would otherwise count every call).
    pub fn dedupe_key(&self) -> String {
        match self.measure {
            Measure::Scan | Measure::Click => self.event_id.clone(),
            _ => format!("{}.{}", self.viewer, self.event_id),
        }
    }
}

/// What a store did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// New, and counted.
    Counted,
    /// Seen before (same event id): not counted again.
    Duplicate,
    /// From a robot: recorded, not counted.
    Robot,
    /// A viewable without an impression of the same viewer and show:
    /// recorded, not counted.
    Invalid,
    /// Taken for counting later, once whatever the copies (the AWS home:
    /// on the measurement stream, where the aggregator drops a duplicate).
    Queued,
}

/// What a store did with a set of events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordSummary {
    /// New, and counted.
    pub counted: usize,
    /// Seen before (same event id): not counted again.
    pub duplicates: usize,
    /// From a robot: recorded, not counted.
    pub robots: usize,
    /// Viewables without an impression: recorded, not counted.
    pub invalid: usize,
    /// Taken, to be counted once by the aggregator.
    pub queued: usize,
    /// Each event's outcome, in the order given.
    pub outcomes: Vec<Outcome>,
}

impl RecordSummary {
    /// The next event's outcome: what every store calls, in order.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Counted => self.counted += 1,
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Robot => self.robots += 1,
            Outcome::Invalid => self.invalid += 1,
            Outcome::Queued => self.queued += 1,
        }
        self.outcomes.push(outcome);
    }
}

/// A batch as the collector takes it: the events to record, and those it
/// refused with the reason (the others of the batch still count).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accepted {
    /// The events to record, in batch order.
    pub events: Vec<Recorded>,
    pub refused: Vec<Refused>,
}

/// An event of a batch the collector refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    /// Its place in the batch.
    pub index: usize,
    /// Its id, when it gave a readable one.
    pub id: Option<String>,
    /// Why, naming the field and the fix.
    pub error: String,
}

/// The collector's answer to a batch, the same from both homes: 200 with
/// each event's outcome when any event was taken (`counted`, `duplicate`,
/// `robot`, `queued`, or `refused` with its reason), 400 when every event was refused
/// (nothing to send again; the first reason is the `error`).
pub fn batch_answer(accepted: &Accepted, summary: &RecordSummary) -> (u16, serde_json::Value) {
    let mut recorded = accepted.events.iter().zip(&summary.outcomes);
    let mut refused = accepted.refused.iter().peekable();
    let total = accepted.events.len() + accepted.refused.len();
    let mut events = Vec::with_capacity(total);
    for index in 0..total {
        if let Some(r) = refused.next_if(|r| r.index == index) {
            events.push(serde_json::json!({ "id": r.id, "status": "refused", "error": r.error }));
        } else if let Some((e, outcome)) = recorded.next() {
            events.push(serde_json::json!({ "id": e.event_id, "status": outcome }));
        }
    }
    let mut body = serde_json::json!({
        "counted": summary.counted,
        "duplicates": summary.duplicates,
        "robots": summary.robots,
        "invalid": summary.invalid,
        "queued": summary.queued,
        "refused": accepted.refused.len(),
        "events": events,
    });
    if accepted.events.is_empty() {
        if let Some(first) = accepted.refused.first() {
            body["error"] = serde_json::Value::String(first.error.clone());
        }
        return (400, body);
    }
    (200, body)
}
