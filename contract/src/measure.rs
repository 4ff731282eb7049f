//! Measurement: what the player reports about the cards it shows, and the
//! tracking links behind its QR code and Open button. Defined once here, so
//! the player writes exactly what the collectors (the studio's and the
//! Lambda) read.
//!
//! A **show** is one display window of one product on one channel. The
//! decision core names it by the state version that started it ([`ShowId`]);
//! the cue carries that id and a [`ShowTag`] (a MAC the backend computes over
//! channel, product and show) for every card, so every viewer's events name
//! the same show and a collector can tell a real show from a made-up one
//! without reading any state.
//!
//! An event batch, as the player sends it with `navigator.sendBeacon`
//! (`text/plain`, so no CORS preflight):
//!
//! ```json
//! {"v":1,"viewer":"k3J9xq0aB1","events":[
//!   {"id":"e7Yq2","type":"impression","show":"AbCdEfGh1234.aurora-mug.mx7in2pn.Qx3_9aZk"}]}
//! ```
//!
//! `show` is the show's [`ShowKey`]: channel, product, show id in base 36 and
//! tag, dot-separated. A tracking link, the path of the QR code (`q`) or the
//! Open button (`o`), is a key after the kind:
//! `/r/q.AbCdEfGh1234.aurora-mug.mx7in2pn.Zq9-aB3x`. The Open link carries
//! the events' tag; the QR code's carries the cue's scan tag (`q`), which the
//! backend's key makes over the use as well, so swapping the kind letter of
//! a link gives a link that does not verify. Short on purpose: the QR
//! code must stay readable at 120 CSS px. One spelling of a show for events
//! and links also keeps the player small: it makes the key once per card and
//! then handles one string (the four typed parts cost it 1.5 KB of wasm).

use crate::json::{self, Json};
use crate::object::{Mode, ObjectReader};
use crate::product_id::ProductId;
use std::fmt;

/// The event-batch format this crate writes and reads.
pub const MEASURE_VERSION: u64 = 1;
/// Largest batch body accepted. A beacon may carry 64 KB; a player flushes
/// long before this (see [`MAX_BATCH_EVENTS`]).
pub const MAX_BATCH_BYTES: usize = 16 * 1024;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 50;
/// Longest viewer or event id.
pub const MAX_OPAQUE_ID_LEN: usize = 32;
/// Longest channel id. An IVS channel ARN ends in a 12-character id.
pub const MAX_CHANNEL_ID_LEN: usize = 24;
/// Characters of a [`ShowTag`].
pub const SHOW_TAG_LEN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Why an event batch was refused (the collector answers 400 with it).
pub enum MeasureError {
    #[error("batch is {0} bytes; send at most {MAX_BATCH_BYTES}")]
    /// Over the body limit (its size in bytes).
    TooLarge(usize),
    #[error("batch is not JSON: {0}")]
    /// Not JSON (what the reader found).
    NotJson(String),
    #[error("batch must be a JSON object like {{\"v\":1,\"viewer\":\"...\",\"events\":[...]}}")]
    /// JSON, but not an object.
    NotAnObject,
    #[error("batch version {0} is not supported (this build reads version {MEASURE_VERSION})")]
    /// A `v` this build does not read (the version given).
    UnsupportedVersion(String),
    #[error("field \"{field}\": {problem}")]
    /// A field breaks its rule.
    InvalidField {
        /// The field, as the JSON spells it.
        field: String,
        /// What is wrong and what it must be.
        problem: String,
    },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> MeasureError {
    MeasureError::InvalidField {
        field: field.into(),
        problem: problem.into(),
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn check_token(text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if text.len() > max {
        return Err(format!("is {} characters; use at most {max}", text.len()));
    }
    if text.chars().all(is_token_char) {
        Ok(())
    } else {
        Err("use only A-Z, a-z, 0-9, '-' and '_'".into())
    }
}

/// An IVS channel's short id: the last part of its ARN
/// (`arn:aws:ivs:…:channel/AbCdEfGh1234` → `AbCdEfGh1234`), 1 to 24
/// characters of `A-Za-z0-9-_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(String);

impl ChannelId {
    /// `text` if it is a well-formed channel id, else why not.
    pub fn parse(text: &str) -> Result<Self, String> {
        check_token(text, MAX_CHANNEL_ID_LEN)?;
        Ok(Self(text.to_owned()))
    }

    /// The id of the channel named by `arn` (or by a bare id).
    pub fn from_arn(arn: &str) -> Result<Self, String> {
        Self::parse(arn.rsplit('/').next().unwrap_or(arn))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One display window of a product on a channel: the version of the channel
/// state written when the product started showing. Unique per channel, and
/// the same in every cue of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShowId(pub u64);

impl ShowId {
    /// Base 36, lower case: the form tracking links use (8 characters for a
    /// clock-anchored version, against 13 decimal digits).
    pub fn to_base36(self) -> String {
        let mut n = self.0;
        let mut digits = Vec::with_capacity(13);
        loop {
            let d = (n % 36) as u8;
            digits.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
            n /= 36;
            if n == 0 {
                break;
            }
        }
        let mut text = String::with_capacity(digits.len());
        for d in digits.iter().rev() {
            text.push(char::from(*d));
        }
        text
    }

    /// The show id written in base 36 (as show keys spell it), if it is one.
    pub fn from_base36(text: &str) -> Option<Self> {
        if text.is_empty() || text.len() > 13 {
            return None;
        }
        let mut n: u64 = 0;
        for c in text.chars() {
            let d = c.to_digit(36).filter(|_| !c.is_ascii_uppercase())?;
            n = n.checked_mul(36)?.checked_add(u64::from(d))?;
        }
        Some(Self(n))
    }
}

impl fmt::Display for ShowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Proof that the backend announced a show: 8 characters of base64url, the
/// first 48 bits of a keyed MAC over channel, product and show (computed and
/// checked by `backend::measure`). Without the key nobody can make a tag for
/// a show that was not on air.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShowTag(String);

impl ShowTag {
    /// `text` if it is a well-formed tag, else why not.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() != SHOW_TAG_LEN || !text.chars().all(is_token_char) {
            // Static text: one format call fewer in the player's wasm.
            return Err("must be 8 characters of A-Z, a-z, 0-9, '-' and '_'".into());
        }
        Ok(Self(text.to_owned()))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A viewer or event id: random, 1 to 32 characters of `A-Za-z0-9-_`. A
/// viewer id lives for one page load; no cookie, nothing personal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpaqueId(String);

impl OpaqueId {
    /// `text` if it is a well-formed id, else why not.
    pub fn parse(text: &str) -> Result<Self, String> {
        check_token(text, MAX_OPAQUE_ID_LEN)?;
        Ok(Self(text.to_owned()))
    }

    /// An id made of `text`'s allowed characters, cut to the longest id;
    /// `x` if none is left. Infallible, for ids the player makes.
    pub fn from_lossy(text: &str) -> Self {
        let id: String = text
            .chars()
            .filter(|c| is_token_char(*c))
            .take(MAX_OPAQUE_ID_LEN)
            .collect();
        Self(if id.is_empty() { "x".into() } else { id })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which show of which product on which channel, with the backend's proof.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShowRef {
    /// The channel the show was on.
    pub channel: ChannelId,
    /// The product shown.
    pub product: ProductId,
    /// Which display window of the product.
    pub show: ShowId,
    /// The backend's keyed proof that it announced this show.
    pub tag: ShowTag,
}

impl ShowRef {
    /// The show as one token (see [`ShowKey`]).
    pub fn key(&self) -> ShowKey {
        ShowKey(format!(
            "{}.{}.{}.{}",
            self.channel,
            self.product.as_str(),
            self.show.to_base36(),
            self.tag.as_str()
        ))
    }

    /// Reads a key; `None` for anything that is not one. The tag is only
    /// checked for its form here: whether it is the show's needs the key.
    pub fn parse_key(key: &str) -> Option<Self> {
        if key.len() > MAX_SHOW_KEY_LEN {
            return None;
        }
        let mut parts = key.split('.');
        let channel = ChannelId::parse(parts.next()?).ok()?;
        let product = ProductId::parse(parts.next()?).ok()?;
        let show = ShowId::from_base36(parts.next()?)?;
        let tag = ShowTag::parse(parts.next()?).ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            channel,
            product,
            show,
            tag,
        })
    }
}

/// A show as events and tracking links spell it:
/// `<channel>.<product>.<show id, base 36>.<tag>`. Made from a [`ShowRef`]
/// (so always well-formed) and read back with [`ShowRef::parse_key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShowKey(String);

impl ShowKey {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest [`ShowKey`]: channel, product id, 13 base-36 digits, tag, dots.
pub const MAX_SHOW_KEY_LEN: usize =
    MAX_CHANNEL_ID_LEN + crate::product_id::MAX_PRODUCT_ID_LEN + 13 + SHOW_TAG_LEN + 3;

/// What a viewer's player saw happen to a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// The card rendered while the video played (IAB: the creative began to
    /// render). Once per show per player.
    Impression,
    /// At least half the card in view, in a visible, focused tab, for one
    /// continuous second (MRC, display). Once per show per player.
    Viewable,
    /// The viewer followed the Open link (the click itself is counted by the
    /// collector's redirect, see [`LinkKind::Click`]).
    Open,
    /// The viewer closed the card.
    Dismiss,
}

impl EventKind {
    /// Every kind, in report order.
    pub const ALL: [EventKind; 4] = [
        EventKind::Impression,
        EventKind::Viewable,
        EventKind::Open,
        EventKind::Dismiss,
    ];

    /// The kind as events and reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Impression => "impression",
            EventKind::Viewable => "viewable",
            EventKind::Open => "open",
            EventKind::Dismiss => "dismiss",
        }
    }

    /// The kind spelt `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One event in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerEvent {
    /// Random per event: a batch sent twice is counted once.
    pub id: OpaqueId,
    /// What happened.
    pub kind: EventKind,
    /// The show it happened to.
    pub show: ShowRef,
}

/// What one player sends in one beacon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBatch {
    /// The player's random id for this page load.
    pub viewer: OpaqueId,
    /// The events, at most [`MAX_BATCH_EVENTS`] per batch.
    pub events: Vec<ViewerEvent>,
    /// Seen in a replay of a recorded show (`"replay":true`), not live:
    /// counted apart.
    pub replay: bool,
}

impl EventBatch {
    /// The JSON text of the batch (see [`batch_json`]).
    pub fn to_json(&self) -> String {
        let events: Vec<_> = self
            .events
            .iter()
            .map(|e| (e.id.clone(), e.kind, e.show.key()))
            .collect();
        batch_json(&self.viewer, self.replay, &events)
    }

    /// Reads a batch; every problem names its field. Bounded: over
    /// [`MAX_BATCH_BYTES`] is refused before parsing, and so is a batch of
    /// more than [`MAX_BATCH_EVENTS`]. The first bad event refuses the
    /// batch; [`EventBatch::decode_each`] keeps the good ones.
    pub fn decode(text: &str) -> Result<Self, MeasureError> {
        let each = Self::decode_each(text)?;
        let events = each
            .events
            .into_iter()
            .map(|e| e.map_err(|bad| bad.problem))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            viewer: each.viewer,
            events,
            replay: each.replay,
        })
    }

    /// Reads a batch whose frame (`v`, `viewer`, `events`) is sound, each
    /// event on its own: a bad event is its problem (naming
    /// `events[i].field`), and the others stand. A bad frame refuses the
    /// whole batch, with the same bounds as [`EventBatch::decode`].
    pub fn decode_each(text: &str) -> Result<EachEvent, MeasureError> {
        if text.len() > MAX_BATCH_BYTES {
            return Err(MeasureError::TooLarge(text.len()));
        }
        let root = Json::parse(text).map_err(|e| MeasureError::NotJson(e.to_string()))?;
        let mut r =
            ObjectReader::new(&root, "", Mode::StopAtFirst).ok_or(MeasureError::NotAnObject)?;
        match r.optional("v") {
            None => return Err(invalid("v", "is missing; this format is version 1")),
            Some(v) if v.as_u64() == Some(MEASURE_VERSION) => {}
            Some(other) => return Err(MeasureError::UnsupportedVersion(other.to_string())),
        }
        let viewer = r.read("viewer", Some("is missing"), |v| {
            let text = v.as_str().ok_or("must be text")?;
            OpaqueId::parse(text)
        });
        let items = r.read("events", Some("is missing"), |v| {
            v.as_array().ok_or_else(|| "must be a list".into())
        });
        let replay = r.read("replay", None, |v| match v {
            Json::Bool(b) => Ok(*b),
            _ => Err("must be true or false (true: seen in a replay)".into()),
        });
        first_problem(r)?;
        let (Some(viewer), Some(items)) = (viewer, items) else {
            return Err(invalid("events", "is missing"));
        };
        if items.is_empty() {
            return Err(invalid("events", "is empty; send a batch only with events"));
        }
        if items.len() > MAX_BATCH_EVENTS {
            return Err(invalid(
                "events",
                format!(
                    "has {} events; send at most {MAX_BATCH_EVENTS} a batch",
                    items.len()
                ),
            ));
        }
        let events = items
            .iter()
            .enumerate()
            .map(|(i, item)| event_at(i, item))
            .collect();
        Ok(EachEvent {
            viewer,
            events,
            replay: replay.unwrap_or(false),
        })
    }
}

/// A batch read event by event ([`EventBatch::decode_each`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EachEvent {
    /// The player's random id for this page load.
    pub viewer: OpaqueId,
    /// Each event in batch order, or what is wrong with it.
    pub events: Vec<Result<ViewerEvent, BadEvent>>,
    /// Seen in a replay ([`EventBatch::replay`]).
    pub replay: bool,
}

/// An event of a batch that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEvent {
    /// Its id, when that much of it is sound (to answer about it).
    pub id: Option<OpaqueId>,
    /// What is wrong with it, naming `events[i].field`.
    pub problem: MeasureError,
}

/// The reader's first problem as the batch's error.
fn first_problem(r: ObjectReader<'_>) -> Result<(), MeasureError> {
    match r.into_problems().into_iter().next() {
        None => Ok(()),
        Some(p) => Err(invalid(p.field, p.message)),
    }
}

/// The batch's event `i`, or the first problem with it.
fn event_at(i: usize, item: &Json) -> Result<ViewerEvent, BadEvent> {
    let at = format!("events[{i}]");
    let mut r = ObjectReader::new(item, &at, Mode::StopAtFirst).ok_or_else(|| BadEvent {
        id: None,
        problem: invalid(&at, "must be an object"),
    })?;
    let id = r.read("id", Some("is missing"), |v| {
        let text = v.as_str().ok_or("must be text")?;
        OpaqueId::parse(text)
    });
    let kind = r.read("type", Some("is missing"), |v| {
        let text = v.as_str().ok_or("must be text")?;
        EventKind::parse(text).ok_or_else(|| {
            format!(
                "{} is not an event; use impression, viewable, open or dismiss",
                json::quoted(text)
            )
        })
    });
    let show = r.read("show", Some("is missing"), |v| {
        let text = v.as_str().ok_or("must be text")?;
        ShowRef::parse_key(text).ok_or_else(|| {
            "must be the show as the player spells it: <channel>.<product>.<show>.<tag>".into()
        })
    });
    // The id, when that much is sound, answers for the event.
    first_problem(r).map_err(|problem| BadEvent {
        id: id.clone(),
        problem,
    })?;
    let (Some(id), Some(kind), Some(show)) = (id, kind, show) else {
        return Err(BadEvent {
            id: None,
            problem: invalid(&at, "must be an object"),
        });
    };
    Ok(ViewerEvent { id, kind, show })
}

/// The JSON text of a batch of `(event id, kind, show)`: the one encoder,
/// which the player calls with the keys it keeps. Every value is a checked
/// token, so nothing needs escaping; written by hand to keep serde out of
/// the player.
pub fn batch_json(
    viewer: &OpaqueId,
    replay: bool,
    events: &[(OpaqueId, EventKind, ShowKey)],
) -> String {
    let mut out = format!(
        r#"{{"v":{MEASURE_VERSION},"viewer":"{}",{}"events":["#,
        viewer.as_str(),
        if replay { r#""replay":true,"# } else { "" }
    );
    for (i, (id, kind, show)) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"id":"{}","type":"{}","show":"{}"}}"#,
            id.as_str(),
            kind.as_str(),
            show.as_str()
        ));
    }
    out.push_str("]}");
    out
}

/// How a viewer followed a tracking link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkKind {
    /// The QR code, scanned with a phone (`q`).
    Scan,
    /// The card's Open link, clicked in the player (`o`).
    Click,
}

impl LinkKind {
    /// The letter tracking links carry for this kind.
    pub fn letter(self) -> char {
        match self {
            LinkKind::Scan => 'q',
            LinkKind::Click => 'o',
        }
    }

    /// The tracking link of this kind for `show` on the collector at
    /// `base` (its origin, without a final `/`); in a replay, the kind's
    /// letter is followed by `r` (`qr.`, `or.`), so it is counted apart.
    pub fn url(self, base: &str, show: &ShowKey, replay: bool) -> String {
        format!(
            "{base}/r/{}{}.{}",
            self.letter(),
            if replay { "r" } else { "" },
            show.as_str()
        )
    }

    /// The kind as reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Scan => "scan",
            LinkKind::Click => "click",
        }
    }
}

/// The short link behind a card's QR code or Open button: the collector
/// counts it and redirects to the product's `link_url`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackingLink {
    /// A scan or a click.
    pub kind: LinkKind,
    /// The show whose card it was on.
    pub show: ShowRef,
    /// On a replay's card.
    pub replay: bool,
}

impl TrackingLink {
    /// The token after `/r/`: the kind's letter and the show's key,
    /// `q.<channel>.<product>.<show base 36>.<tag>`.
    pub fn token(&self) -> String {
        format!(
            "{}{}.{}",
            self.kind.letter(),
            if self.replay { "r" } else { "" },
            self.show.key().as_str()
        )
    }

    /// The link on a collector at `base` (its origin, without a final `/`).
    pub fn url(&self, base: &str) -> String {
        self.kind
            .url(base.trim_end_matches('/'), &self.show.key(), self.replay)
    }

    /// Reads a token; `None` for anything that is not one (the collector
    /// answers 404). The tag is not checked here: that needs the key.
    pub fn parse(token: &str) -> Option<Self> {
        let (kind, key) = token.split_once('.')?;
        let (kind, replay) = match kind {
            "q" => (LinkKind::Scan, false),
            "o" => (LinkKind::Click, false),
            "qr" => (LinkKind::Scan, true),
            "or" => (LinkKind::Click, true),
            _ => return None,
        };
        Some(Self {
            kind,
            show: ShowRef::parse_key(key)?,
            replay,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn show_ref() -> ShowRef {
        ShowRef {
            channel: ChannelId::parse("AbCdEfGh1234").unwrap(),
            product: ProductId::parse("aurora-mug").unwrap(),
            show: ShowId(1_796_300_000_123),
            tag: ShowTag::parse("Qx3_9aZk").unwrap(),
        }
    }

    #[test]
    fn batch_round_trips_through_its_json() {
        let batch = EventBatch {
            viewer: OpaqueId::parse("k3J9xq0aB1").unwrap(),
            events: vec![
                ViewerEvent {
                    id: OpaqueId::parse("e1").unwrap(),
                    kind: EventKind::Impression,
                    show: show_ref(),
                },
                ViewerEvent {
                    id: OpaqueId::parse("e2").unwrap(),
                    kind: EventKind::Viewable,
                    show: show_ref(),
                },
            ],
            replay: false,
        };
        let text = batch.to_json();
        assert!(text.starts_with(r#"{"v":1,"viewer":"k3J9xq0aB1","events":[{"id":"e1","type":"impression","show":"AbCdEfGh1234.aurora-mug.mx7in2pn.Qx3_9aZk"}"#), "{text}");
        assert_eq!(EventBatch::decode(&text).unwrap(), batch);
        // serde_json reads it too (the Lambda's logs and Firehose records).
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
        let replayed = EventBatch {
            replay: true,
            ..batch
        };
        let text = replayed.to_json();
        assert!(text.contains(r#""replay":true,"#), "{text}");
        assert_eq!(EventBatch::decode(&text).unwrap(), replayed);
        assert!(matches!(
            EventBatch::decode(&text.replace("true", "1")),
            Err(MeasureError::InvalidField { field, .. }) if field == "replay"
        ));
    }

    #[test]
    fn bad_batches_name_the_field_and_the_fix() {
        let ok = r#"{"id":"e1","type":"impression","show":"c1.cap.5.AAAAAAAA"}"#;
        let batch = |events: &str| format!(r#"{{"v":1,"viewer":"v1","events":[{events}]}}"#);
        assert!(EventBatch::decode(&batch(ok)).is_ok());
        let cases = [
            (ok.replace("impression", "click"), "events[0].type"),
            (ok.replace(".cap.", ".Cap!."), "events[0].show"),
            (ok.replace("AAAAAAAA", "AAAA"), "events[0].show"),
            (ok.replace(".5.", ".-5."), "events[0].show"),
            (ok.replace("c1.", "c/1."), "events[0].show"),
            (ok.replace(r#""c1.cap.5.AAAAAAAA""#, "5"), "events[0].show"),
            (
                ok.replace(r#""e1""#, &format!("\"{}\"", "e".repeat(33))),
                "events[0].id",
            ),
            (ok.replace(r#""id":"e1","#, ""), "events[0].id"),
            ("7".into(), "events[0]"),
        ];
        for (event, field) in cases {
            match EventBatch::decode(&batch(&event)) {
                Err(MeasureError::InvalidField { field: f, .. }) => assert_eq!(f, field, "{event}"),
                other => panic!("{event}: {other:?}"),
            }
        }
        assert!(
            matches!(EventBatch::decode(&batch("")), Err(MeasureError::InvalidField { field, .. }) if field == "events")
        );
        let many = vec![ok; MAX_BATCH_EVENTS + 1].join(",");
        assert!(
            matches!(EventBatch::decode(&batch(&many)), Err(MeasureError::InvalidField { field, .. }) if field == "events")
        );
        assert!(matches!(
            EventBatch::decode(&" ".repeat(MAX_BATCH_BYTES + 1)),
            Err(MeasureError::TooLarge(_))
        ));
        assert!(matches!(
            EventBatch::decode("{"),
            Err(MeasureError::NotJson(_))
        ));
        assert!(matches!(
            EventBatch::decode(r#"{"v":2}"#),
            Err(MeasureError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn each_event_is_read_on_its_own_when_the_frame_is_sound() {
        let ok =
            |id: &str| format!(r#"{{"id":"{id}","type":"impression","show":"c1.cap.5.AAAAAAAA"}}"#);
        let text = format!(
            r#"{{"v":1,"viewer":"v1","events":[{},{},7,{}]}}"#,
            ok("e1"),
            ok("e2").replace("impression", "click"),
            ok("e4")
        );
        let each = EventBatch::decode_each(&text).unwrap();
        assert_eq!(each.viewer.as_str(), "v1");
        let read: Vec<_> = each
            .events
            .iter()
            .map(|e| match e {
                Ok(e) => (Some(e.id.as_str().to_owned()), String::new()),
                Err(bad) => (
                    bad.id.as_ref().map(|id| id.as_str().to_owned()),
                    bad.problem.to_string(),
                ),
            })
            .collect();
        assert_eq!(read[0], (Some("e1".into()), String::new()));
        assert_eq!(read[1].0.as_deref(), Some("e2"));
        assert!(read[1].1.contains("events[1].type"), "{}", read[1].1);
        assert_eq!(read[2].0, None);
        assert!(read[2].1.contains("events[2]"), "{}", read[2].1);
        assert_eq!(read[3], (Some("e4".into()), String::new()));
        // The strict reading refuses the batch at its first bad event, and a
        // bad frame refuses it either way.
        assert!(matches!(
            EventBatch::decode(&text),
            Err(MeasureError::InvalidField { field, .. }) if field == "events[1].type"
        ));
        assert!(EventBatch::decode_each(r#"{"v":1,"viewer":"v1","events":[]}"#).is_err());
    }

    #[test]
    fn tracking_links_are_short_and_round_trip() {
        let link = TrackingLink {
            kind: LinkKind::Scan,
            show: show_ref(),
            replay: false,
        };
        assert_eq!(link.token(), "q.AbCdEfGh1234.aurora-mug.mx7in2pn.Qx3_9aZk");
        assert_eq!(TrackingLink::parse(&link.token()), Some(link.clone()));
        assert_eq!(
            link.url("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/r/q.AbCdEfGh1234.aurora-mug.mx7in2pn.Qx3_9aZk"
        );
        let replayed = TrackingLink {
            replay: true,
            kind: LinkKind::Click,
            ..link.clone()
        };
        assert!(replayed.token().starts_with("or.AbCd"), "counted apart");
        assert_eq!(TrackingLink::parse(&replayed.token()), Some(replayed));
        for bad in [
            "",
            "x.AbCdEfGh1234.aurora-mug.mzjyvfk3.Qx3_9aZk",
            "q.AbCdEfGh1234.aurora-mug.mzjyvfk3",
            "q.AbCdEfGh1234.aurora-mug.mzjyvfk3.Qx3_9aZk.more",
            "q.AbCdEfGh1234.Aurora.mzjyvfk3.Qx3_9aZk",
            "q.AbCdEfGh1234.aurora-mug.MZJ.Qx3_9aZk",
            "q.AbCdEfGh1234.aurora-mug.zzzzzzzzzzzzzz.Qx3_9aZk",
            &format!("q.{}", "a.".repeat(100)),
        ] {
            assert_eq!(TrackingLink::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn show_ids_round_trip_through_base36(n in any::<u64>()) {
            prop_assert_eq!(ShowId::from_base36(&ShowId(n).to_base36()), Some(ShowId(n)));
        }

        #[test]
        fn decoders_never_panic(s in ".{0,400}") {
            let _ = EventBatch::decode(&s);
            let _ = TrackingLink::parse(&s);
        }
    }
}
