//! A recording's cue timeline (`cues.json`, beside the recording's
//! playlist): every cue the stream carried, at its time from the
//! recording's start, with the catalog version in effect. A replay reads it
//! to show the cards by the video's time: after a seek, the right cards at
//! once; while paused, nothing expires, because time is the video's.
//!
//! ```json
//! {
//!   "version": 1,
//!   "duration_secs": 61.2,
//!   "cues": [
//!     { "at": 3.52, "catalog_version": "v1", "cue": "{\"v\":1,\"seq\":...,\"show\":[{\"id\":\"kestrel\",\"left\":20}]}" }
//!   ],
//!   "catalogs": { "v1": "{\"products\":[...]}" }
//! }
//! ```
//!
//! Each cue is kept as the text that was sent, and read with [`Cue::decode`]:
//! one definition of the cue, live or replayed. `catalogs` holds, as its
//! text, each catalog version the cues name, read with [`Catalog::from_json`]:
//! a replay shows a product as it was during the show, even after the
//! operator changed it. Other fields (the channel, the start time) are
//! allowed and ignored.

use crate::catalog::Catalog;
use crate::cue::{Cue, CueItem};
use crate::json::{quoted, Json};
use crate::product_id::ProductId;

/// The format this build writes and reads.
pub const TIMELINE_VERSION: u64 = 1;
/// The largest `cues.json` read: a cue every second for three hours.
pub const MAX_TIMELINE_BYTES: usize = 8 << 20;
/// The most cues one timeline holds.
pub const MAX_TIMELINE_CUES: usize = 20_000;
// The reader's message says 20000 without formatting it (wasm size).
const _: () = assert!(MAX_TIMELINE_CUES == 20_000);

/// One cue at its time.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedCue {
    /// Seconds from the recording's start.
    pub at: f64,
    /// The catalog version in effect when it was sent.
    pub catalog_version: String,
    /// The cue as it was sent.
    pub cue: Cue,
}

/// A recording's cues, in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CueTimeline {
    /// The recording's length.
    pub duration_secs: f64,
    /// Every cue, in time order.
    pub cues: Vec<TimedCue>,
    /// The catalog of each version the cues name (version, catalog); a
    /// version missing here is shown with the player's current catalog.
    pub catalogs: Vec<(String, Catalog)>,
}

/// Where a product's card begins on the timeline (a marker on a replay's
/// scrub bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Seconds from the recording's start.
    pub at: f64,
    /// The product whose card begins there.
    pub product: ProductId,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
/// Why a timeline was refused.
pub enum TimelineError {
    #[error("cues.json is {0} bytes; the limit is {MAX_TIMELINE_BYTES}")]
    /// Over the size limit (its size in bytes).
    TooLarge(usize),
    #[error("cues.json is not JSON: {0}")]
    /// Not JSON (what the reader found).
    NotJson(String),
    #[error("cues.json field \"{field}\": {problem}")]
    /// A field breaks its rule.
    InvalidField {
        /// The field, as the JSON spells it (`cues[3].at`).
        field: String,
        /// What is wrong and what it must be.
        problem: String,
    },
}

impl CueTimeline {
    /// Reads a timeline; never panics, and work is bounded by the size
    /// limit. The first problem is named by its field.
    ///
    /// Read with `Json::get` rather than the object reader: the player
    /// reads timelines too, and the reader's closures, each inlined, cost
    /// its wasm 2 KB here (measured with twiggy).
    pub fn from_json(text: &str) -> Result<Self, TimelineError> {
        if text.len() > MAX_TIMELINE_BYTES {
            return Err(TimelineError::TooLarge(text.len()));
        }
        let root = Json::parse(text).map_err(|e| TimelineError::NotJson(e.to_string()))?;
        if root.as_object().is_none() {
            return Err(invalid(
                "(root)",
                "must be an object with version, duration_secs and cues",
            ));
        }
        let version = root.get("version").and_then(Json::as_u64);
        if version != Some(TIMELINE_VERSION) {
            return Err(invalid("version", "must be 1"));
        }
        let duration_secs = seconds(root.get("duration_secs"), "duration_secs".into())?;
        let items = root
            .get("cues")
            .and_then(Json::as_array)
            .ok_or_else(|| invalid("cues", "must be a list of cues"))?;
        if items.len() > MAX_TIMELINE_CUES {
            return Err(invalid("cues", "has more than 20000 cues"));
        }
        let mut cues: Vec<TimedCue> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = seconds(item.get("at"), format!("cues[{i}].at"))?;
            if cues.last().is_some_and(|last| at < last.at) {
                return Err(invalid(
                    format!("cues[{i}].at"),
                    "is before the cue ahead of it; cues go in time order",
                ));
            }
            let cue = match item.get("cue").and_then(Json::as_str).map(Cue::decode) {
                Some(Ok(cue)) => cue,
                Some(Err(e)) => return Err(invalid(format!("cues[{i}].cue"), e.to_string())),
                None => return Err(invalid(format!("cues[{i}].cue"), "must be the cue's text")),
            };
            cues.push(TimedCue {
                at,
                catalog_version: item
                    .get("catalog_version")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                cue,
            });
        }
        let mut catalogs = Vec::new();
        let versions = root.get("catalogs").and_then(Json::as_object);
        for (version, text) in versions.unwrap_or_default() {
            let field = format!("catalogs.{version}");
            let catalog = match text.as_str().map(Catalog::from_json) {
                Some(Ok(catalog)) => catalog,
                Some(Err(e)) => return Err(invalid(field, e.to_string())),
                None => return Err(invalid(field, "must be the catalog's JSON text")),
            };
            catalogs.push((version.clone(), catalog));
        }
        Ok(Self {
            duration_secs,
            cues,
            catalogs,
        })
    }

    /// The catalog that was in effect at the cue in effect at `t`, when the
    /// timeline keeps it.
    pub fn catalog_at(&self, t: f64) -> Option<&Catalog> {
        let version = &self.cue_at(t)?.catalog_version;
        self.catalogs
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, c)| c)
    }

    /// The timeline as `cues.json` holds it.
    pub fn to_json(&self) -> Result<String, crate::cue::CueError> {
        let mut out = format!(
            "{{\n  \"version\": {TIMELINE_VERSION},\n  \"duration_secs\": {},\n  \"cues\": [",
            round_ms(self.duration_secs)
        );
        for (i, c) in self.cues.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            out.push_str(&format!(
                "    {{\"at\": {}, \"catalog_version\": {}, \"cue\": {}}}",
                round_ms(c.at),
                quoted(&c.catalog_version),
                quoted(&c.cue.encode()?)
            ));
        }
        out.push_str("\n  ],\n  \"catalogs\": {");
        for (i, (version, catalog)) in self.catalogs.iter().enumerate() {
            out.push_str(if i == 0 { "\n    " } else { ",\n    " });
            out.push_str(&format!(
                "{}: {}",
                quoted(version),
                quoted(&catalog.to_json())
            ));
        }
        out.push_str("\n  }\n}\n");
        Ok(out)
    }

    /// The newest cue at or before `t` (seconds from the start).
    pub fn cue_at(&self, t: f64) -> Option<&TimedCue> {
        let after = self.cues.partition_point(|c| c.at <= t);
        after.checked_sub(1).and_then(|i| self.cues.get(i))
    }

    /// The cards on screen at `t`, as a viewer watching live saw them then:
    /// the newest cue at or before `t`, each entry's seconds left counted
    /// down by the time since that cue, and those whose time ran out
    /// dropped. A function of `t` alone: a seek shows the right cards at
    /// once, and a paused video expires nothing.
    pub fn cards_at(&self, t: f64) -> Vec<CueItem> {
        let Some(c) = self.cue_at(t) else {
            return Vec::new();
        };
        let since = (t - c.at).max(0.0);
        c.cue
            .show
            .iter()
            .filter_map(|item| {
                let left = f64::from(item.seconds_left) - since;
                (left > 0.0).then(|| CueItem {
                    seconds_left: left.ceil() as u32,
                    ..item.clone()
                })
            })
            .collect()
    }

    /// Where each card begins: a product that is on screen at a cue and
    /// was not at the cue before (or was, in another show window, or its
    /// time had run out by then).
    pub fn markers(&self) -> Vec<Marker> {
        let mut out = Vec::new();
        let mut before: Option<&TimedCue> = None;
        for c in &self.cues {
            for item in c.cue.show.iter().filter(|i| i.seconds_left > 0) {
                let continues = before.is_some_and(|b| {
                    b.cue.show.iter().any(|p| {
                        p.id == item.id
                            && (p.show == item.show || item.show.is_none())
                            && b.at + f64::from(p.seconds_left) > c.at
                    })
                });
                if !continues {
                    out.push(Marker {
                        at: c.at,
                        product: item.id.clone(),
                    });
                }
            }
            before = Some(c);
        }
        out
    }
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> TimelineError {
    TimelineError::InvalidField {
        field: field.into(),
        problem: problem.into(),
    }
}

fn seconds(v: Option<&Json>, field: String) -> Result<f64, TimelineError> {
    v.and_then(Json::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| invalid(field, "must be seconds, 0 or more"))
}

fn round_ms(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::ShowId;

    fn item(id: &str, left: u32, show: u64) -> CueItem {
        CueItem {
            show: Some(ShowId(show)),
            ..CueItem::new(ProductId::parse(id).expect("id"), left)
        }
    }

    fn timeline() -> CueTimeline {
        let cue = |show: Vec<CueItem>| Cue {
            seq: None,
            channel: None,
            show,
        };
        let timed = |at: f64, show: Vec<CueItem>| TimedCue {
            at,
            catalog_version: "v1".into(),
            cue: cue(show),
        };
        CueTimeline {
            duration_secs: 60.0,
            cues: vec![
                timed(3.5, vec![item("kestrel", 20, 1)]),
                timed(8.5, vec![item("kestrel", 15, 1)]),
                timed(23.5, vec![]),
                timed(30.0, vec![item("lumen", 20, 2), item("kestrel", 20, 3)]),
            ],
            catalogs: vec![(
                "v1".into(),
                Catalog::from_json(
                    r#"{"products":[{"id":"kestrel","labels":["kestrel"],"title":"Kestrel","description":"","price":"$1","image_url":"k.png","link_url":"https://shop.example.com/k","min_confidence":70,"display_seconds":20,"cooldown_seconds":60}]}"#,
                )
                .expect("catalog"),
            )],
        }
    }

    #[test]
    fn the_cards_at_a_time_are_the_newest_cue_counted_down() {
        let t = timeline();
        assert!(t.cards_at(0.0).is_empty(), "nothing before the first cue");
        assert_eq!(t.cards_at(3.5)[0].seconds_left, 20);
        let at_10 = t.cards_at(10.0);
        assert_eq!(
            (at_10[0].id.as_str(), at_10[0].seconds_left),
            ("kestrel", 14)
        );
        assert!(t.cards_at(23.5).is_empty(), "the clear cue");
        assert_eq!(t.cards_at(45.0).len(), 2);
        assert!(t.cards_at(50.0).is_empty(), "their time ran out");
    }

    #[test]
    fn markers_are_where_each_card_begins() {
        let got: Vec<(f64, String)> = timeline()
            .markers()
            .into_iter()
            .map(|m| (m.at, m.product.as_str().to_owned()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3.5, "kestrel".into()),
                (30.0, "lumen".into()),
                (30.0, "kestrel".into())
            ]
        );
    }

    #[test]
    fn a_timeline_round_trips_and_bad_ones_name_the_field() {
        let t = timeline();
        let text = t.to_json().expect("encode");
        assert_eq!(CueTimeline::from_json(&text).expect("decode"), t);
        for (bad, field) in [
            (r#"{"version":2,"duration_secs":1,"cues":[]}"#, "version"),
            (r#"{"version":1,"cues":[]}"#, "duration_secs"),
            (
                r#"{"version":1,"duration_secs":1,"cues":[{"at":-1,"cue":"{\"v\":1,\"show\":[]}"}]}"#,
                "cues[0].at",
            ),
            (
                r#"{"version":1,"duration_secs":1,"cues":[{"at":1,"cue":"{}"}]}"#,
                "cues[0].cue",
            ),
            (
                r#"{"version":1,"duration_secs":9,"cues":[{"at":5,"cue":"{\"v\":1,\"show\":[]}"},{"at":4,"cue":"{\"v\":1,\"show\":[]}"}]}"#,
                "cues[1].at",
            ),
        ] {
            match CueTimeline::from_json(bad) {
                Err(TimelineError::InvalidField { field: f, .. }) => assert_eq!(f, field, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(
            t.catalog_at(10.0)
                .and_then(|c| c.get_str("kestrel"))
                .map(|p| p.title.as_str()),
            Some("Kestrel"),
            "the show's catalog"
        );
        assert!(t.catalog_at(1.0).is_none(), "before any cue");
        match CueTimeline::from_json(
            r#"{"version":1,"duration_secs":1,"cues":[],"catalogs":{"v2":"{\"products\":7}"}}"#,
        ) {
            Err(TimelineError::InvalidField { field, .. }) => assert_eq!(field, "catalogs.v2"),
            other => panic!("a bad catalog: {other:?}"),
        }
        assert!(matches!(
            CueTimeline::from_json("nope"),
            Err(TimelineError::NotJson(_))
        ));
    }

    proptest::proptest! {
        /// A seek anywhere shows what a viewer who watched from the start saw
        /// at that moment: replaying the cues in order up to `t` and counting
        /// down gives the same cards, and nothing shows past its time.
        #[test]
        fn a_seek_shows_what_a_continuous_viewer_saw(
            gaps in proptest::collection::vec((0.0f64..10.0, 0u32..30, proptest::bool::ANY), 1..30),
            t in 0.0f64..400.0,
        ) {
            let mut at = 0.0;
            let mut cues = Vec::new();
            for (i, (gap, left, two)) in gaps.iter().enumerate() {
                at += gap;
                let mut show = vec![item("kestrel", *left, i as u64)];
                if *two { show.push(item("lumen", left / 2, 1000 + i as u64)); }
                cues.push(TimedCue { at, catalog_version: "v1".into(), cue: Cue { seq: None, channel: None, show } });
            }
            let timeline = CueTimeline { duration_secs: at, cues: cues.clone(), catalogs: Vec::new() };
            // The viewer from the start: applies every cue up to t in order.
            let mut screen: Vec<(String, f64)> = Vec::new();
            for c in cues.iter().filter(|c| c.at <= t) {
                screen = c.cue.show.iter().map(|i| (i.id.as_str().to_owned(), c.at + f64::from(i.seconds_left))).collect();
            }
            let expected: Vec<String> = screen.iter().filter(|(_, until)| *until > t).map(|(id, _)| id.clone()).collect();
            let got: Vec<String> = timeline.cards_at(t).iter().map(|i| i.id.as_str().to_owned()).collect();
            proptest::prop_assert_eq!(got, expected);
            for card in timeline.cards_at(t) {
                let c = timeline.cue_at(t).expect("a cue");
                let original = c.cue.show.iter().find(|i| i.id == card.id).expect("from the cue");
                proptest::prop_assert!(card.seconds_left <= original.seconds_left);
            }
        }
    }
}
