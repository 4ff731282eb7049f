//! The timed-metadata cue: what IVS carries inside the stream to every viewer.
//!
//! ```json
//! {"v":1,"seq":1796300000123,"ch":"AbCdEfGh1234",
//!  "show":[{"id":"aurora-mug","left":17,"s":1796300000045,"t":"Qx3_9aZk"}]}
//! ```
//!
//! * **Compact**: product ids only, never the product card; the player looks the
//!   card up in the catalog. IVS caps a cue at 1 KB, and the encoder refuses
//!   anything larger.
//! * **Level-triggered**: a cue states the channel's *whole* current overlay
//!   set, each product with the whole seconds it has left. One cue is enough for
//!   a viewer who just joined, a repeated cue is harmless, and "clear" is simply
//!   a cue without that product (`{"v":1,"show":[]}` clears everything).
//! * **Versioned**: `v` is checked first. The decoder ignores fields it does
//!   not know (so a newer backend may add some) but rejects an unknown version
//!   with [`CueError::UnsupportedVersion`].
//! * **Ordered**: `seq` is the version of the channel state the cue was built
//!   from. Two Lambda invocations may write versions n and n+1 and have their
//!   PutMetadata calls arrive the other way round; a player drops a cue whose
//!   `seq` is below the newest it has applied ([`Cue::supersedes`]), so a
//!   viewer never sees a cleared card come back. `seq` is optional: a cue
//!   without one (an older backend, a hand-written test cue) is applied as
//!   before. The backend anchors versions to the clock (see
//!   `backend::decision::next_version`), so they keep growing across a deleted
//!   state item or a restarted studio.
//! * **Measured**: with measurement on, the cue names its channel (`ch`) and
//!   each entry its show (`s`, the version that started the display window)
//!   and the backend's two tags for it: `t`, which the player copies into
//!   its events and its Open link, and `q`, for the QR code's link only (see
//!   [`crate::measure`]: a tag is bound to its use, so a click link cannot be
//!   turned into a scan). All are optional: a cue without them shows cards
//!   as before, and an older player ignores them.
//! * **Sold out**: `"x":1` on an entry marks its product sold out (the
//!   operator's call): the card says so, with no QR code and no link, so the
//!   entry carries no `q`. An older player shows the card as before.
//! * **Small**: at most [`MAX_CARDS_AT_ONCE`] (8) entries of at most 103
//!   bytes (55 without measurement) plus a 13-digit `seq` and the channel:
//!   about 900 bytes at worst, inside IVS's 1 KB.

use crate::json::Json;
use crate::measure::{ChannelId, ShowId, ShowTag};
use crate::object::{Mode, ObjectReader};
use crate::product_id::ProductId;
use serde::Serialize;

/// The cue format this crate writes and reads.
pub const CUE_VERSION: u64 = 1;
/// IVS PutMetadata's limit on the metadata text, in bytes.
pub const MAX_CUE_BYTES: usize = 1024;
/// Most cards a channel shows at once (the backend's `MAX_ACTIVE_PRODUCTS`,
/// the studio's `--max-active-products`, the stack's `maxActiveProducts`):
/// the most entries a measured cue holds inside [`MAX_CUE_BYTES`].
pub const MAX_CARDS_AT_ONCE: usize = 8;
/// Longest time a cue may announce for one product (one day).
pub const MAX_SECONDS_LEFT: u32 = 86_400;

/// The channel's current overlay set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cue {
    /// The version of the channel state this cue was built from; `None` for
    /// a cue that does not say (always applied).
    pub seq: Option<u64>,
    /// The channel, when measurement is on (events name it).
    pub channel: Option<ChannelId>,
    /// Products to show now, most important first (the player stacks them in
    /// this order).
    pub show: Vec<CueItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// One product on screen, as a cue lists it.
pub struct CueItem {
    /// The product to show.
    pub id: ProductId,
    /// Whole seconds the product has left, counted from when the cue plays.
    pub seconds_left: u32,
    /// The show (display window) this card belongs to, when measured.
    pub show: Option<ShowId>,
    /// The backend's tag for that show's events and Open link, when
    /// measured.
    pub tag: Option<ShowTag>,
    /// The backend's tag for that show's QR-code link, when measured.
    pub scan_tag: Option<ShowTag>,
    /// The operator marked the product sold out: the card says so and shows
    /// no QR code and no link (so a sold-out entry carries no `q`).
    pub sold_out: bool,
}

impl CueItem {
    /// An entry without measurement.
    pub fn new(id: ProductId, seconds_left: u32) -> Self {
        Self {
            id,
            seconds_left,
            show: None,
            tag: None,
            scan_tag: None,
            sold_out: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Why a cue text was refused.
pub enum CueError {
    #[error("cue is {0} bytes; IVS carries at most {MAX_CUE_BYTES}")]
    /// Over IVS's 1 KB limit (its size in bytes).
    TooLarge(usize),
    #[error("cue is not JSON: {0}")]
    /// Not JSON (what the reader found).
    NotJson(String),
    #[error("cue must be a JSON object like {{\"v\":1,\"show\":[...]}}")]
    /// JSON, but not an object.
    NotAnObject,
    #[error("cue has no version field \"v\"")]
    /// No `v` field: not a cue of ours.
    MissingVersion,
    #[error("cue version {0} is not supported (this build reads version {CUE_VERSION})")]
    /// A `v` this build does not read (the version given).
    UnsupportedVersion(String),
    #[error("cue field \"{field}\": {problem}")]
    /// A field breaks its rule.
    InvalidField {
        /// The field, as the JSON spells it.
        field: String,
        /// What is wrong and what it must be.
        problem: String,
    },
}

/// The reader's first problem as the cue's error.
fn finished(r: ObjectReader<'_>) -> Result<(), CueError> {
    match r.into_problems().into_iter().next() {
        None => Ok(()),
        Some(p) => Err(invalid(p.field, p.message)),
    }
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> CueError {
    CueError::InvalidField {
        field: field.into(),
        problem: problem.into(),
    }
}

impl Cue {
    /// A cue that clears every overlay.
    pub fn clear() -> Self {
        Self::default()
    }

    /// A cue that clears every overlay, built from state version `seq`.
    pub fn clear_at(seq: u64) -> Self {
        Self {
            seq: Some(seq),
            ..Self::default()
        }
    }

    /// True when the cue shows nothing: every card comes off.
    pub fn is_clear(&self) -> bool {
        self.show.is_empty()
    }

    /// The JSON text to send with PutMetadata. Refuses anything IVS would
    /// refuse (over 1024 bytes), duplicate ids and out-of-range seconds, so a
    /// cue that encodes is a cue every player decodes.
    pub fn encode(&self) -> Result<String, CueError> {
        #[derive(Serialize)]
        struct WireItem<'a> {
            id: &'a str,
            left: u32,
            #[serde(skip_serializing_if = "Option::is_none")]
            s: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            t: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            q: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            x: Option<u8>,
        }
        #[derive(Serialize)]
        struct Wire<'a> {
            v: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            seq: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            ch: Option<&'a str>,
            show: Vec<WireItem<'a>>,
        }
        for (i, item) in self.show.iter().enumerate() {
            if self.show[..i].iter().any(|o| o.id == item.id) {
                return Err(invalid(
                    format!("show[{i}].id"),
                    format!("product {} appears twice", item.id),
                ));
            }
            if item.seconds_left > MAX_SECONDS_LEFT {
                return Err(invalid(
                    format!("show[{i}].left"),
                    format!("{} is more than {MAX_SECONDS_LEFT}", item.seconds_left),
                ));
            }
        }
        let text = serde_json::to_string(&Wire {
            v: CUE_VERSION,
            seq: self.seq,
            ch: self.channel.as_ref().map(ChannelId::as_str),
            show: self
                .show
                .iter()
                .map(|i| WireItem {
                    id: i.id.as_str(),
                    left: i.seconds_left,
                    s: i.show.map(|s| s.0),
                    t: i.tag.as_ref().map(ShowTag::as_str),
                    // A sold-out card has no QR code, so no scan tag.
                    q: i.scan_tag
                        .as_ref()
                        .filter(|_| !i.sold_out)
                        .map(ShowTag::as_str),
                    x: i.sold_out.then_some(1),
                })
                .collect(),
        })
        .map_err(|e| CueError::NotJson(e.to_string()))?;
        if text.len() > MAX_CUE_BYTES {
            return Err(CueError::TooLarge(text.len()));
        }
        Ok(text)
    }

    /// Reads a cue. Never panics, whatever the input; work is bounded because
    /// input over [`MAX_CUE_BYTES`] is refused before parsing.
    pub fn decode(text: &str) -> Result<Self, CueError> {
        if text.len() > MAX_CUE_BYTES {
            return Err(CueError::TooLarge(text.len()));
        }
        let root = Json::parse(text).map_err(|e| CueError::NotJson(e.to_string()))?;
        let mut r = ObjectReader::new(&root, "", Mode::StopAtFirst).ok_or(CueError::NotAnObject)?;
        match r.optional("v") {
            None => return Err(CueError::MissingVersion),
            Some(v) if v.as_u64() == Some(CUE_VERSION) => {}
            Some(other) => return Err(CueError::UnsupportedVersion(other.to_string())),
        }
        let seq = r.read("seq", None, |n| {
            n.as_u64()
                .ok_or_else(|| "must be a whole number from 0 to 18446744073709551615".into())
        });
        let channel = r
            .text("ch", None)
            .and_then(|s| ChannelId::parse(s).map_err(|p| r.problem("ch", p)).ok());
        let items = r.read("show", Some("is missing"), |v| {
            v.as_array().ok_or_else(|| "must be a list".into())
        });
        // Unknown keys are ignored: a newer cue may carry more.
        finished(r)?;
        let mut show: Vec<CueItem> = Vec::with_capacity(items.map_or(0, <[Json]>::len));
        for (i, item) in items.unwrap_or_default().iter().enumerate() {
            let at = format!("show[{i}]");
            let mut r = ObjectReader::new(item, &at, Mode::StopAtFirst)
                .ok_or_else(|| invalid(&at, "must be an object"))?;
            let id = r.read("id", Some("must be text"), |v| {
                let text = v.as_str().ok_or("must be text")?;
                ProductId::parse(text).map_err(|e| e.to_string())
            });
            let seconds_left = r.read(
                "left",
                Some(&format!(
                    "must be whole seconds from 0 to {MAX_SECONDS_LEFT}"
                )),
                |v| {
                    v.as_u64()
                        .filter(|&s| s <= u64::from(MAX_SECONDS_LEFT))
                        .and_then(|s| u32::try_from(s).ok())
                        .ok_or_else(|| {
                            format!("must be whole seconds from 0 to {MAX_SECONDS_LEFT}")
                        })
                },
            );
            if let Some(id) = id.as_ref().filter(|id| show.iter().any(|o| &o.id == *id)) {
                r.problem("id", format!("product {id} appears twice"));
            }
            let show_id = r.read("s", None, |n| {
                n.as_u64()
                    .map(ShowId)
                    .ok_or_else(|| "must be a whole number".into())
            });
            let tag = |r: &mut ObjectReader<'_>, name: &'static str| {
                r.text(name, None)
                    .and_then(|t| ShowTag::parse(t).map_err(|p| r.problem(name, p)).ok())
            };
            let (tag, scan_tag) = (tag(&mut r, "t"), tag(&mut r, "q"));
            // Read by hand, not with `read`: a closure of its own would cost
            // the player a copy of the reader.
            let sold_out = match r.optional("x").map(Json::as_u64) {
                None | Some(Some(0)) => false,
                Some(Some(1)) => true,
                Some(_) => {
                    r.problem("x", "must be 1 (sold out) or 0".into());
                    false
                }
            };
            finished(r)?;
            // A clean reader read both required fields.
            let (Some(id), Some(seconds_left)) = (id, seconds_left) else {
                return Err(invalid(format!("{at}.id"), "must be text"));
            };
            show.push(CueItem {
                id,
                seconds_left,
                show: show_id,
                tag,
                scan_tag: scan_tag.filter(|_| !sold_out),
                sold_out,
            });
        }
        Ok(Cue { seq, channel, show })
    }

    /// Whether this cue may replace the overlay set last applied from a cue
    /// with `newest` as its `seq`. Only a cue that says it is older is
    /// refused: an equal `seq` is the same state re-published, and a cue or a
    /// history without `seq` cannot be ordered.
    pub fn supersedes(&self, newest: Option<u64>) -> bool {
        match (self.seq, newest) {
            (Some(seq), Some(newest)) => seq >= newest,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(id: &str, left: u32) -> CueItem {
        CueItem::new(ProductId::parse(id).unwrap(), left)
    }

    #[test]
    fn encodes_compactly_and_round_trips() {
        let cue = Cue {
            seq: None,
            channel: None,
            show: vec![item("aurora-mug", 17), item("cap", 3)],
        };
        let text = cue.encode().unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"show":[{"id":"aurora-mug","left":17},{"id":"cap","left":3}]}"#
        );
        assert_eq!(Cue::decode(&text).unwrap(), cue);
        assert_eq!(Cue::clear().encode().unwrap(), r#"{"v":1,"show":[]}"#);
        let ordered = Cue {
            seq: Some(1_796_300_000_123),
            ..cue
        };
        let text = ordered.encode().unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"seq":1796300000123,"show":[{"id":"aurora-mug","left":17},{"id":"cap","left":3}]}"#
        );
        assert_eq!(Cue::decode(&text).unwrap(), ordered);
    }

    #[test]
    fn seq_orders_cues_and_its_absence_never_blocks_one() {
        let at = |seq| Cue::clear_at(seq);
        assert!(at(5).supersedes(None));
        assert!(at(5).supersedes(Some(4)));
        assert!(at(5).supersedes(Some(5)), "a re-publish of the same state");
        assert!(!at(5).supersedes(Some(6)), "an older state");
        assert!(
            Cue::clear().supersedes(Some(6)),
            "unversioned cues still apply"
        );
        for bad in [r#""7""#, "-1", "1.5", "null", "18446744073709551616"] {
            assert!(
                matches!(
                    Cue::decode(&format!(r#"{{"v":1,"seq":{bad},"show":[]}}"#)),
                    Err(CueError::InvalidField { field, .. }) if field == "seq"
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn encoder_refuses_over_1024_bytes() {
        // 25 products with 32-character ids: ~1.1 KB.
        let show = (0..25)
            .map(|i| item(&format!("{i:0>32}"), 60))
            .collect::<Vec<_>>();
        match (Cue {
            show,
            ..Cue::default()
        })
        .encode()
        {
            Err(CueError::TooLarge(n)) => assert!(n > MAX_CUE_BYTES),
            other => panic!("{other:?}"),
        }
        // 18 entries of 55 bytes each fit: 1007 bytes.
        let show = (0..18)
            .map(|i| item(&format!("{i:0>32}"), 86_400))
            .collect::<Vec<_>>();
        assert!(
            Cue {
                show,
                ..Cue::default()
            }
            .encode()
            .unwrap()
            .len()
                <= MAX_CUE_BYTES
        );
        // The backend's largest cue: MAX_CARDS_AT_ONCE entries of the
        // longest ids and times, with the largest possible seq.
        let show = (0..MAX_CARDS_AT_ONCE)
            .map(|i| item(&format!("{i:0>32}"), 86_400))
            .collect::<Vec<_>>();
        let largest = Cue {
            seq: Some(u64::MAX),
            channel: None,
            show,
        };
        assert!(largest.encode().unwrap().len() < 650);
        // With measurement: the channel, and per entry a show and its two
        // tags, with versions of the year 2200 (13 digits).
        let show = (0..MAX_CARDS_AT_ONCE as u64)
            .map(|i| CueItem {
                show: Some(ShowId(7_258_118_400_000 + i)),
                tag: Some(ShowTag::parse("Qx3_9aZk").unwrap()),
                scan_tag: Some(ShowTag::parse("Zq9-aB3x").unwrap()),
                ..item(&format!("{i:0>32}"), 86_400)
            })
            .collect::<Vec<_>>();
        let measured = Cue {
            seq: Some(7_258_118_400_999),
            channel: Some(ChannelId::parse(&"c".repeat(24)).unwrap()),
            show,
        };
        let text = measured.encode().unwrap();
        assert!(text.len() < 920, "{}", text.len());
        assert_eq!(Cue::decode(&text).unwrap(), measured);
    }

    #[test]
    fn a_sold_out_entry_says_so_and_carries_no_scan_tag() {
        let sold = CueItem {
            scan_tag: Some(ShowTag::parse("Zq9-aB3x").unwrap()),
            tag: Some(ShowTag::parse("Qx3_9aZk").unwrap()),
            sold_out: true,
            ..item("cap", 4)
        };
        let cue = Cue {
            seq: None,
            channel: None,
            show: vec![sold, item("mug", 3)],
        };
        let text = cue.encode().unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"show":[{"id":"cap","left":4,"t":"Qx3_9aZk","x":1},{"id":"mug","left":3}]}"#
        );
        let back = Cue::decode(&text).unwrap();
        assert!(back.show[0].sold_out && back.show[0].scan_tag.is_none());
        assert!(!back.show[1].sold_out);
        // A scan tag beside "x" is not trusted; "x" must be 0 or 1.
        let both =
            Cue::decode(r#"{"v":1,"show":[{"id":"cap","left":4,"q":"Zq9-aB3x","x":1}]}"#).unwrap();
        assert!(both.show[0].scan_tag.is_none());
        let bad = Cue::decode(r#"{"v":1,"show":[{"id":"cap","left":4,"x":2}]}"#);
        assert!(
            matches!(bad, Err(CueError::InvalidField { ref field, .. }) if field == "show[0].x"),
            "{bad:?}"
        );
    }

    #[test]
    fn measured_cues_carry_channel_show_and_tag() {
        let text = r#"{"v":1,"seq":9,"ch":"AbCd12","show":[{"id":"cap","left":4,"s":7,"t":"Qx3_9aZk","q":"Zq9-aB3x"}]}"#;
        let cue = Cue::decode(text).unwrap();
        assert_eq!(cue.channel.as_ref().map(ChannelId::as_str), Some("AbCd12"));
        assert_eq!(cue.show[0].show, Some(ShowId(7)));
        assert_eq!(
            cue.show[0].tag.as_ref().map(ShowTag::as_str),
            Some("Qx3_9aZk")
        );
        assert_eq!(
            cue.show[0].scan_tag.as_ref().map(ShowTag::as_str),
            Some("Zq9-aB3x")
        );
        assert_eq!(cue.encode().unwrap(), text);
        for (bad, field) in [
            (text.replace(r#""AbCd12""#, r#""a/b""#), "ch"),
            (text.replace(r#""s":7"#, r#""s":"7""#), "show[0].s"),
            (text.replace("Qx3_9aZk", "short"), "show[0].t"),
            (text.replace("Zq9-aB3x", "x.y"), "show[0].q"),
        ] {
            assert!(
                matches!(Cue::decode(&bad), Err(CueError::InvalidField { field: f, .. }) if f == field),
                "{bad}"
            );
        }
    }

    #[test]
    fn decoder_ignores_unknown_fields_and_rejects_unknown_versions() {
        let cue =
            Cue::decode(r#"{"v":1,"x":true,"show":[{"id":"cap","left":4,"y":[1]}]}"#).unwrap();
        assert_eq!(cue.show, vec![item("cap", 4)]);
        assert_eq!(
            Cue::decode(r#"{"v":2,"show":"anything"}"#),
            Err(CueError::UnsupportedVersion("2".into()))
        );
        assert_eq!(Cue::decode(r#"{"show":[]}"#), Err(CueError::MissingVersion));
        assert_eq!(Cue::decode("[1]"), Err(CueError::NotAnObject));
        assert!(matches!(Cue::decode("{"), Err(CueError::NotJson(_))));
        assert!(matches!(
            Cue::decode(r#"{"v":1,"show":[{"id":"Bad Id","left":1}]}"#),
            Err(CueError::InvalidField { .. })
        ));
        assert!(matches!(
            Cue::decode(r#"{"v":1,"show":[{"id":"a","left":-1}]}"#),
            Err(CueError::InvalidField { .. })
        ));
        assert!(matches!(
            Cue::decode(r#"{"v":1,"show":[{"id":"a","left":1},{"id":"a","left":2}]}"#),
            Err(CueError::InvalidField { .. })
        ));
        assert!(matches!(
            Cue::decode(&" ".repeat(1025)),
            Err(CueError::TooLarge(1025))
        ));
    }

    fn arb_id() -> impl Strategy<Value = ProductId> {
        "[a-z0-9][a-z0-9_-]{0,31}".prop_map(|s| ProductId::parse(&s).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn decoder_never_panics_on_any_text(s in ".{0,1200}") {
            let _ = Cue::decode(&s);
        }

        #[test]
        fn decoder_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = Cue::decode(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn decoder_never_panics_on_json_shaped_text(
            s in r#"\{("v":(1|2|-1|1\.5|"1"|null),)?("show":(\[|\[\{"id":"[a-z]{0,3}","left":[0-9-]{0,6}\}|\{|"x"|null)[\],}\]]{0,3})?"#
        ) {
            let _ = Cue::decode(&s);
        }

        #[test]
        fn whatever_encodes_decodes_to_the_same_cue(
            items in proptest::collection::btree_map(arb_id(), 0..=MAX_SECONDS_LEFT, 0..30),
            seq in proptest::option::of(any::<u64>()),
        ) {
            let cue = Cue { seq, channel: None, show: items.into_iter().map(|(id, seconds_left)| CueItem::new(id, seconds_left)).collect() };
            match cue.encode() {
                Ok(text) => {
                    prop_assert!(text.len() <= MAX_CUE_BYTES);
                    prop_assert_eq!(Cue::decode(&text).unwrap(), cue);
                }
                Err(CueError::TooLarge(n)) => prop_assert!(n > MAX_CUE_BYTES),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
