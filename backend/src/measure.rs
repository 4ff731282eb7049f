//! Measured advertising: the collector's rules, shared by its two homes (the
//! studio, over SQLite, and the collector Lambda, over DynamoDB and
//! Firehose), and the signer that lets it tell real shows from made-up ones.
//!
//! What counts (the definitions follow IAB/MRC; docs/measurement.md explains
//! them):
//! * **impression**: the player rendered the card while the video played;
//! * **viewable**: at least half the card in view, in a visible, focused tab,
//!   for one continuous second;
//! * **click**: the card's Open link, counted at the collector's redirect;
//! * **scan**: the card's QR code, counted at the same redirect;
//! * **dismiss** and the player's own **open** beacon are kept as raw events
//!   and counters, but the report's "opens" are the redirects (a click is
//!   what reached the server, as the industry counts it).
//!
//! Every event is checked before anything is counted: a batch is accepted
//! whole or refused whole with the reason ([`Rejection`]). An event names a
//! show with the backend's [`ShowTag`], so an event or a link for a show that
//! was never on air is refused without reading any state; an event id seen
//! before is not counted again (the store's job, atomically); each viewer id
//! has a bounded rate ([`RateLimiter`]); and known robots' user agents are
//! recorded but flagged and left out of every count ([`is_robot`]).

use ad_contract::measure::{
    ChannelId, EventBatch, LinkKind, MeasureError, OpaqueId, ShowId, ShowRef, ShowTag,
    TrackingLink, SHOW_TAG_LEN,
};
use ad_contract::{Catalog, Cue, ProductId};
use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;

pub use crate::calendar::UnixSeconds;

/// Shortest signing key accepted.
pub const MIN_KEY_BYTES: usize = 16;

/// Makes and checks [`ShowTag`]s: HMAC-SHA256 over channel, product and show
/// with a key only the backend and the collector hold, cut to 48 bits.
/// 48 bits is plenty against guessing: at the collector's rate limit a
/// forger needs billions of years of requests per valid tag.
#[derive(Clone)]
pub struct ShowSigner {
    key: Vec<u8>,
}

impl fmt::Debug for ShowSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShowSigner(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the measurement key is {0} bytes; give at least {MIN_KEY_BYTES} random bytes, as hex (e.g. `openssl rand -hex 32`)")]
    TooShort(usize),
    #[error(
        "the measurement key is not hex ({0}); give it as hex digits (e.g. `openssl rand -hex 32`)"
    )]
    NotHex(String),
}

impl ShowSigner {
    pub fn new(key: &[u8]) -> Result<Self, KeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(key.len()));
        }
        Ok(Self { key: key.to_vec() })
    }

    /// A key written as hex digits (the form the configs hold).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if !text.len().is_multiple_of(2) {
            return Err(KeyError::NotHex("an odd number of digits".into()));
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| KeyError::NotHex(format!("digit {} is not hex", i + 1)))
            })
            .collect::<Result<Vec<u8>, _>>()?;
        Self::new(&bytes)
    }

    fn mac(
        &self,
        channel: &ChannelId,
        product: &ProductId,
        show: ShowId,
        use_: TagUse,
    ) -> [u8; 32] {
        // The key length was checked; HMAC takes any length anyway.
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return [0; 32],
        };
        // Fields separated by a byte no id may contain, so no two different
        // triples hash the same text.
        mac.update(channel.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(product.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(&show.0.to_be_bytes());
        // The player's tag keeps the text it had before tags had uses (a
        // show's show id is 8 bytes, so a suffix cannot collide with it).
        match use_ {
            TagUse::Player => {}
            TagUse::Scan => mac.update(b"\nscan"),
        }
        mac.finalize().into_bytes().into()
    }

    /// The tag of a show for `use_`.
    pub fn tag_for(
        &self,
        channel: &ChannelId,
        product: &ProductId,
        show: ShowId,
        use_: TagUse,
    ) -> ShowTag {
        let mac = self.mac(channel, product, show, use_);
        let text = base64url(&mac[..SHOW_TAG_LEN * 6 / 8]);
        // Eight characters of the base64url alphabet: always a valid tag.
        ShowTag::parse(&text).unwrap_or_else(|_| unreachable_tag())
    }

    /// The tag of a show's events and Open link.
    pub fn tag(&self, channel: &ChannelId, product: &ProductId, show: ShowId) -> ShowTag {
        self.tag_for(channel, product, show, TagUse::Player)
    }

    /// Whether `show` carries the tag this key makes for it and `use_`.
    /// Compared in constant time, so the answer's timing tells nothing about
    /// the tag.
    pub fn verify(&self, show: &ShowRef, use_: TagUse) -> bool {
        let expected = self.tag_for(&show.channel, &show.product, show.show, use_);
        let (a, b) = (expected.as_str().as_bytes(), show.tag.as_str().as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Names the channel in `cue` and tags every entry that has a show, for
    /// each use, so players can report on it.
    pub fn stamp(&self, cue: &mut Cue, channel: &ChannelId) {
        cue.channel = Some(channel.clone());
        for item in &mut cue.show {
            item.tag = item.show.map(|show| self.tag(channel, &item.id, show));
            item.scan_tag = item
                .show
                .map(|show| self.tag_for(channel, &item.id, show, TagUse::Scan));
        }
    }
}

impl ShowSigner {
    /// The tracking link of `kind` for a show, with the tag of its use.
    pub fn link(
        &self,
        kind: LinkKind,
        channel: &ChannelId,
        product: &ProductId,
        show: ShowId,
    ) -> TrackingLink {
        TrackingLink {
            kind,
            show: ShowRef {
                channel: channel.clone(),
                product: product.clone(),
                show,
                tag: self.tag_for(channel, product, show, kind.into()),
            },
        }
    }
}

/// What a show tag may be used for; the key's MAC covers it, so a tag made
/// for one use does not verify for another.
///
/// Two uses, not three: the events and the Open link are both made by the
/// page that received the cue (the link carries the viewer id its events
/// do), while the QR code's link leaves the page, for a phone. So a click
/// link cannot be rewritten into a scan (`o.` to `q.`), nor the reverse, nor
/// an event key into a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagUse {
    /// Events of the player and its Open link (the cue's `t`).
    Player,
    /// The QR code's link (the cue's `q`).
    Scan,
}

impl From<LinkKind> for TagUse {
    fn from(kind: LinkKind) -> Self {
        match kind {
            LinkKind::Scan => TagUse::Scan,
            LinkKind::Click => TagUse::Player,
        }
    }
}

/// A tag of the right shape, for the impossible case where base64url output
/// were not one (keeps `tag` free of panics).
fn unreachable_tag() -> ShowTag {
    ShowTag::parse("AAAAAAAA").unwrap_or_else(|_| unreachable_tag())
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

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
}

impl Recorded {
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

/// Why the collector refused a batch (nothing of it was counted), or one
/// event of it ([`Refused`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The body is not a batch (HTTP 400).
    #[error("{0}")]
    Malformed(#[from] MeasureError),
    /// An event names a product the catalog does not have (HTTP 400).
    #[error("events[{index}].product: {product} is not in the catalog")]
    UnknownProduct { index: usize, product: String },
    /// An event's tag is not the backend's for its show (HTTP 400).
    #[error("events[{index}].tag: not the tag of show {show} of {product} on {channel}; copy it from the cue")]
    ForgedShow {
        index: usize,
        channel: String,
        product: String,
        show: u64,
    },
    /// The viewer sent more than the rate allows (HTTP 429).
    #[error("viewer {viewer} sent more than {limit} events a minute; try again later")]
    RateLimited { viewer: String, limit: u32 },
    /// The client (address and user agent) sent more than the rate allows,
    /// whatever viewer ids it named (HTTP 429).
    #[error("this address sent more than {limit} events a minute; try again later")]
    ClientRateLimited { limit: u32 },
    /// The show started longer ago than its events count for (HTTP 400).
    #[error("events[{index}].show: show {show} started more than {days} days ago; its events no longer count")]
    ShowExpired { index: usize, show: u64, days: u64 },
    /// The show starts more than a day from now: not a show the backend
    /// started (HTTP 400).
    #[error(
        "events[{index}].show: show {show} starts more than a day from now; copy it from the cue"
    )]
    ShowInFuture { index: usize, show: u64 },
}

impl Rejection {
    /// The HTTP status both collectors answer with.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::RateLimited { .. } | Rejection::ClientRateLimited { .. } => 429,
            _ => 400,
        }
    }
}

/// Robots beyond the `isbot` crate's list (its patterns are maintained from
/// the crawler and browser lists it is tested against): link previewers and
/// tools that say what they are without a "bot" word.
const MORE_ROBOTS: &[&str] = &["preview", "headless", "lighthouse", "httpclient", "libwww"];

/// Whether a user agent is a known robot's (its events are recorded and
/// flagged, never counted): the `isbot` list, which matches "bot" as a word
/// (Googlebot, Discordbot/2.0) and not inside one (a Cubot phone is a
/// phone), and [`MORE_ROBOTS`]. An empty user agent counts as a robot:
/// every browser and phone camera app sends one.
pub fn is_robot(user_agent: &str) -> bool {
    static ROBOTS: std::sync::OnceLock<isbot::Bots> = std::sync::OnceLock::new();
    user_agent.trim().is_empty()
        || ROBOTS
            .get_or_init(|| {
                let mut bots = isbot::Bots::default();
                bots.append(MORE_ROBOTS);
                bots
            })
            .is_bot(user_agent)
}

/// At most `limit` events per viewer in any minute, over at most
/// `max_viewers` viewers remembered (the least recent is forgotten first),
/// so memory is bounded whatever arrives.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    max_viewers: usize,
    /// Per viewer: the minute and how many events it sent in it.
    windows: HashMap<String, (UnixSeconds, u32)>,
    order: VecDeque<String>,
}

impl RateLimiter {
    pub fn new(limit: u32, max_viewers: usize) -> Self {
        Self {
            limit,
            max_viewers: max_viewers.max(1),
            windows: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Takes `n` events of `viewer`'s budget at `now`; false (and nothing
    /// taken) when that would pass the limit.
    pub fn admit(&mut self, viewer: &str, n: u32, now: UnixSeconds) -> bool {
        let minute = now / 60;
        if !self.windows.contains_key(viewer) {
            while self.windows.len() >= self.max_viewers {
                match self.order.pop_front() {
                    Some(old) => {
                        self.windows.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(viewer.to_owned());
        }
        let entry = self.windows.entry(viewer.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1.saturating_add(n) > self.limit {
            return false;
        }
        entry.1 += n;
        true
    }
}

/// Events a viewer may send a minute. A card makes at most four events a
/// show; ten players on a page with a new card every few seconds stay far
/// below.
pub const EVENTS_PER_VIEWER_MINUTE: u32 = 240;
/// Events one client (a real address with one user agent) may send a
/// minute, whatever viewer ids it names: what stops a script that makes up
/// a viewer id per beacon. 150 viewers of one browser build behind one
/// address (a venue's NAT) each seeing a card a minute stay below; the edge's
/// per-address rule (docs/measurement.md) is the hard cap.
pub const EVENTS_PER_CLIENT_MINUTE: u32 = 600;
/// Viewers the rate limiter remembers (about 100 bytes each).
pub const RATE_LIMITED_VIEWERS: usize = 100_000;

/// The collector's rules, without storage: checks a batch or a link and says
/// what to record.
#[derive(Debug)]
pub struct Collector {
    catalog: Catalog,
    signer: ShowSigner,
    rate: Mutex<RateLimiter>,
    /// Keyed by [`client_key`]: an address is never held raw.
    client_rate: Mutex<RateLimiter>,
}

/// A client as the rate limiter and link dedupe key it: a hash of its
/// address and user agent, so no address is kept in memory or written.
pub fn client_key(address: &str, user_agent: &str) -> String {
    let mut hash = Sha256::new();
    for part in [address, user_agent] {
        hash.update(part.as_bytes());
        hash.update(b"\n");
    }
    base64url(&hash.finalize()[..15])
}

impl Collector {
    pub fn new(catalog: Catalog, signer: ShowSigner) -> Self {
        Self {
            catalog,
            signer,
            rate: Mutex::new(RateLimiter::new(
                EVENTS_PER_VIEWER_MINUTE,
                RATE_LIMITED_VIEWERS,
            )),
            client_rate: Mutex::new(RateLimiter::new(
                EVENTS_PER_CLIENT_MINUTE,
                RATE_LIMITED_VIEWERS,
            )),
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Checks a beacon's body, each event on its own: the events to
    /// record and those refused with the reason (a product removed since
    /// the show, a forged tag, a malformed event), so that one bad event
    /// does not cost the others. The whole batch is refused only for a bad
    /// frame (not JSON, no viewer, too large) or over the viewer's or the
    /// client's rate. `client` is the sender's real address (never one it
    /// chose: see `collector::client_address`).
    pub fn accept_batch(
        &self,
        body: &str,
        client: &str,
        user_agent: &str,
        now: UnixSeconds,
    ) -> Result<Accepted, Rejection> {
        let batch = EventBatch::decode_each(body)?;
        let mut good = Vec::with_capacity(batch.events.len());
        let mut refused = Vec::new();
        for (index, event) in batch.events.into_iter().enumerate() {
            let checked = event
                .map_err(|bad| (bad.id, Rejection::from(bad.problem)))
                .and_then(
                    |e| match self.check_show(&e.show, TagUse::Player, index, now) {
                        Ok(()) => Ok(e),
                        Err(why) => Err((Some(e.id), why)),
                    },
                );
            match checked {
                Ok(e) => good.push(e),
                Err((id, why)) => refused.push(Refused {
                    index,
                    id: id.map(|id| id.as_str().to_owned()),
                    error: why.to_string(),
                }),
            }
        }
        let n = u32::try_from(good.len()).unwrap_or(u32::MAX);
        let admit = |limiter: &Mutex<RateLimiter>, key: &str| {
            limiter
                .lock()
                .map(|mut rate| rate.admit(key, n, now))
                .unwrap_or(false)
        };
        // The client first: a script rotating viewer ids then fills no
        // viewer's budget.
        if !good.is_empty() && !admit(&self.client_rate, &client_key(client, user_agent)) {
            return Err(Rejection::ClientRateLimited {
                limit: EVENTS_PER_CLIENT_MINUTE,
            });
        }
        if !good.is_empty() && !admit(&self.rate, batch.viewer.as_str()) {
            return Err(Rejection::RateLimited {
                viewer: batch.viewer.as_str().to_owned(),
                limit: EVENTS_PER_VIEWER_MINUTE,
            });
        }
        let robot = is_robot(user_agent);
        let events = good
            .into_iter()
            .map(|e| Recorded {
                event_id: e.id.as_str().to_owned(),
                viewer: batch.viewer.as_str().to_owned(),
                measure: e.kind.into(),
                channel: e.show.channel.as_str().to_owned(),
                product: e.show.product.as_str().to_owned(),
                show: e.show.show.0,
                at: now,
                robot,
            })
            .collect();
        Ok(Accepted { events, refused })
    }

    fn check_show(
        &self,
        show: &ShowRef,
        use_: TagUse,
        index: usize,
        now: UnixSeconds,
    ) -> Result<(), Rejection> {
        // The show id is the write that opened the window, in ms of the
        // clock (decision::next_version): so the tag, which covers the show,
        // also covers when its events stop counting.
        let started = show.show.0 / 1000;
        if started.saturating_add(SHOW_COUNTS_FOR_SECONDS) < now {
            return Err(Rejection::ShowExpired {
                index,
                show: show.show.0,
                days: SHOW_COUNTS_FOR_SECONDS / 86_400,
            });
        }
        if started > now.saturating_add(86_400) {
            return Err(Rejection::ShowInFuture {
                index,
                show: show.show.0,
            });
        }
        if self.catalog.get(&show.product).is_none() {
            return Err(Rejection::UnknownProduct {
                index,
                product: show.product.as_str().to_owned(),
            });
        }
        if !self.signer.verify(show, use_) {
            return Err(Rejection::ForgedShow {
                index,
                channel: show.channel.as_str().to_owned(),
                product: show.product.as_str().to_owned(),
                show: show.show.0,
            });
        }
        Ok(())
    }

    /// A tracking link followed: where to redirect and what to record, or
    /// `None` for anything that is not a real show's link (answer 404).
    /// `client` identifies the fetcher (its address; with the user agent),
    /// so the same client counts once per link per [`LINK_WINDOW_SECONDS`].
    /// Whether the fetch counts at all is [`link_fetch_counts`]'s call.
    pub fn follow_link(
        &self,
        token: &str,
        viewer: Option<&str>,
        client: &str,
        user_agent: &str,
        now: UnixSeconds,
    ) -> Option<Followed> {
        let link = TrackingLink::parse(token)?;
        let product = self.catalog.get(&link.show.product)?;
        match self.check_show(&link.show, link.kind.into(), 0, now) {
            Ok(()) => {}
            // A link of an old show still takes the viewer to the product;
            // it no longer counts.
            Err(Rejection::ShowExpired { .. }) => {
                return Some(Followed {
                    location: product.link_url.clone(),
                    recorded: None,
                })
            }
            Err(_) => return None,
        }
        let viewer = viewer
            .and_then(|v| OpaqueId::parse(v).ok())
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let mut hash = Sha256::new();
        let window = (now / LINK_WINDOW_SECONDS).to_string();
        for part in [token, &client_key(client, user_agent), &window] {
            hash.update(part.as_bytes());
            hash.update(b"\n");
        }
        let digest = hash.finalize();
        let event_id = format!("l-{}", base64url(&digest[..15]));
        Some(Followed {
            location: product.link_url.clone(),
            recorded: Some(Recorded {
                event_id,
                viewer,
                measure: link.kind.into(),
                channel: link.show.channel.as_str().to_owned(),
                product: link.show.product.as_str().to_owned(),
                show: link.show.show.0,
                at: now,
                robot: is_robot(user_agent),
            }),
        })
    }
}

/// A tracking link followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    /// Where to redirect: the product's catalog link.
    pub location: String,
    /// What to count; `None` for a show past [`SHOW_COUNTS_FOR_SECONDS`].
    pub recorded: Option<Recorded>,
}

/// A show's events and links count for this long after it started (the
/// issue's "the show's end plus 30 days"; a display window is minutes).
pub const SHOW_COUNTS_FOR_SECONDS: UnixSeconds = 30 * 86_400;

/// A link counts once per client (address and user agent) per link in a
/// window this long: a phone that scans twice, a page that reloads, a
/// script looping from one address. People behind one address with the same
/// browser count once per window (an undercount, the safe side for a count
/// advertisers pay by).
pub const LINK_WINDOW_SECONDS: UnixSeconds = 600;

/// Whether a fetch of a tracking link is a person following it: a GET that
/// is not a prefetch, prerender or preview (one of [`PURPOSE_HEADERS`]
/// saying so, as browsers and link previews send). A HEAD, a prefetch or a
/// prerender is answered like the GET (302) and counts nothing.
pub fn link_fetch_counts(method: &str, purpose: Option<&str>) -> bool {
    method.eq_ignore_ascii_case("GET")
        && !purpose.is_some_and(|p| {
            let p = p.to_ascii_lowercase();
            p.contains("prefetch") || p.contains("prerender") || p.contains("preview")
        })
}

/// The headers that say a fetch is speculative, most specific first.
pub const PURPOSE_HEADERS: [&str; 4] = ["sec-purpose", "purpose", "x-purpose", "x-moz"];

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

/// Counters per show: what the report and the dashboard read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ShowCounts {
    pub channel: String,
    pub product: String,
    pub show: u64,
    /// When the first event of the show arrived (Unix seconds).
    pub first_at: UnixSeconds,
    pub impressions: u64,
    pub viewable: u64,
    pub opens: u64,
    pub scans: u64,
    pub dismisses: u64,
    /// The player's own open beacons (the report's opens are the redirects).
    pub open_beacons: u64,
}

impl ShowCounts {
    pub fn add(&mut self, measure: Measure, n: u64) {
        let field = match measure {
            Measure::Impression => &mut self.impressions,
            Measure::Viewable => &mut self.viewable,
            Measure::Open => &mut self.open_beacons,
            Measure::Dismiss => &mut self.dismisses,
            Measure::Click => &mut self.opens,
            Measure::Scan => &mut self.scans,
        };
        *field += n;
    }

    /// The counter of one measure.
    pub fn get(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Impression => self.impressions,
            Measure::Viewable => self.viewable,
            Measure::Open => self.open_beacons,
            Measure::Dismiss => self.dismisses,
            Measure::Click => self.opens,
            Measure::Scan => self.scans,
        }
    }

    /// Viewable impressions per impression.
    pub fn view_rate(&self) -> f64 {
        ratio(self.viewable, self.impressions)
    }

    /// (opens + scans) per impression.
    pub fn click_through_rate(&self) -> f64 {
        ratio(self.opens + self.scans, self.impressions)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Counted events per hour and product, for the dashboard's charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourCount {
    pub hour: String,
    pub channel: String,
    pub product: String,
    pub measure: Measure,
    pub count: u64,
}

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

/// The report's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

impl ReportFormat {
    /// The format a report API's `format=` names (JSON when absent), or the
    /// refusal to answer with.
    pub fn from_query(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("json") {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            "table" => Ok(Self::Table),
            other => Err(format!("format {other:?} is not one of json, csv, table")),
        }
    }

    /// The Content-Type of a report in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Table => "text/plain; charset=utf-8",
        }
    }
}

/// One row of the report, with the rates worked out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    pub channel: String,
    pub product: String,
    pub show: u64,
    pub impressions: u64,
    pub viewable: u64,
    pub view_rate: f64,
    pub opens: u64,
    pub scans: u64,
    pub click_through_rate: f64,
}

impl From<&ShowCounts> for ReportRow {
    fn from(c: &ShowCounts) -> Self {
        Self {
            channel: c.channel.clone(),
            product: c.product.clone(),
            show: c.show,
            impressions: c.impressions,
            viewable: c.viewable,
            view_rate: round4(c.view_rate()),
            opens: c.opens,
            scans: c.scans,
            click_through_rate: round4(c.click_through_rate()),
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

const REPORT_COLUMNS: [&str; 9] = [
    "channel",
    "product",
    "show",
    "impressions",
    "viewable",
    "view_rate",
    "opens",
    "scans",
    "click_through_rate",
];

impl ReportRow {
    fn cells(&self) -> [String; 9] {
        [
            self.channel.clone(),
            self.product.clone(),
            self.show.to_string(),
            self.impressions.to_string(),
            self.viewable.to_string(),
            format!("{:.4}", self.view_rate),
            self.opens.to_string(),
            self.scans.to_string(),
            format!("{:.4}", self.click_through_rate),
        ]
    }
}

/// The report per channel, product and show, in `format`.
pub fn render_report(shows: &[ShowCounts], format: ReportFormat) -> String {
    let rows: Vec<ReportRow> = shows.iter().map(ReportRow::from).collect();
    match format {
        ReportFormat::Json => serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n",
        ReportFormat::Csv => {
            let mut out = REPORT_COLUMNS.join(",") + "\n";
            for row in &rows {
                // Ids are tokens (no comma, quote or newline), numbers are
                // numbers: nothing needs quoting.
                out.push_str(&row.cells().join(","));
                out.push('\n');
            }
            out
        }
        ReportFormat::Table => {
            let cells: Vec<[String; 9]> = rows.iter().map(ReportRow::cells).collect();
            let widths: Vec<usize> = (0..9)
                .map(|i| {
                    cells
                        .iter()
                        .map(|c| c[i].len())
                        .chain([REPORT_COLUMNS[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |values: Vec<&str>| {
                let mut out = String::new();
                for (i, v) in values.iter().enumerate() {
                    // Text left, numbers right.
                    if i < 2 {
                        out.push_str(&format!("{v:<w$}  ", w = widths[i]));
                    } else {
                        out.push_str(&format!("{v:>w$}  ", w = widths[i]));
                    }
                }
                out.trim_end().to_owned() + "\n"
            };
            let mut out = line(REPORT_COLUMNS.to_vec());
            for c in &cells {
                out.push_str(&line(c.iter().map(String::as_str).collect()));
            }
            if rows.is_empty() {
                out.push_str("(no shows measured yet)\n");
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ad_contract::measure::{EventKind, ViewerEvent};

    fn catalog() -> Catalog {
        Catalog::from_json(
            r#"{"products":[{"id":"cap","labels":["cap"],"title":"Cap","price":"$1","description":"d","image_url":"https://x.test/c.png","link_url":"https://shop.test/cap","min_confidence":50,"display_seconds":20,"cooldown_seconds":60}]}"#,
        )
        .unwrap()
    }

    fn signer() -> ShowSigner {
        ShowSigner::new(&[7; 32]).unwrap()
    }

    fn show(tag_from: &ShowSigner) -> ShowRef {
        let channel = ChannelId::parse("chan1").unwrap();
        let product = ProductId::parse("cap").unwrap();
        let tag = tag_from.tag(&channel, &product, ShowId(42));
        ShowRef {
            channel,
            product,
            show: ShowId(42),
            tag,
        }
    }

    fn scan_link(tag_from: &ShowSigner) -> TrackingLink {
        let s = show(tag_from);
        tag_from.link(LinkKind::Scan, &s.channel, &s.product, s.show)
    }

    fn batch(viewer: &str, events: Vec<(String, EventKind, ShowRef)>) -> String {
        EventBatch {
            viewer: OpaqueId::parse(viewer).unwrap(),
            events: events
                .into_iter()
                .map(|(id, kind, show)| ViewerEvent {
                    id: OpaqueId::parse(&id).unwrap(),
                    kind,
                    show,
                })
                .collect(),
        }
        .to_json()
    }

    const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";

    #[test]
    fn a_shows_events_count_for_30_days_and_never_before_it_starts() {
        let c = Collector::new(catalog(), signer());
        let s = signer();
        let event =
            |show: ShowRef| batch("v1", vec![("e1".to_string(), EventKind::Impression, show)]);
        // Show 42 (ms) started at 0: counts until 30 days later.
        let on_time = c
            .accept_batch(
                &event(show(&s)),
                "198.51.100.7",
                BROWSER,
                SHOW_COUNTS_FOR_SECONDS,
            )
            .unwrap();
        assert_eq!(on_time.events.len(), 1);
        let late = c
            .accept_batch(
                &event(show(&s)),
                "198.51.100.7",
                BROWSER,
                SHOW_COUNTS_FOR_SECONDS + 1,
            )
            .unwrap();
        assert!(late.events.is_empty());
        assert!(
            late.refused[0]
                .error
                .contains("events[0].show: show 42 started more than 30 days ago"),
            "{:?}",
            late.refused
        );
        // A tagged show that starts two days after now was not started by
        // the backend's clock.
        let channel = ChannelId::parse("chan1").unwrap();
        let product = ProductId::parse("cap").unwrap();
        let future = ShowId(3 * 86_400 * 1000);
        let ahead = ShowRef {
            tag: s.tag(&channel, &product, future),
            channel,
            product,
            show: future,
        };
        let refused = c
            .accept_batch(&event(ahead), "198.51.100.7", BROWSER, 86_400)
            .unwrap();
        assert!(
            refused.refused[0]
                .error
                .contains("starts more than a day from now"),
            "{refused:?}"
        );
    }

    #[test]
    fn tags_bind_channel_product_and_show_to_the_key() {
        let s = signer();
        let good = show(&s);
        assert!(s.verify(&good, TagUse::Player));
        assert!(!s.verify(&good, TagUse::Scan), "a tag is bound to its use");
        let other_key = ShowSigner::new(&[8; 32]).unwrap();
        assert!(!other_key.verify(&good, TagUse::Player));
        for changed in [
            ShowRef {
                show: ShowId(43),
                ..good.clone()
            },
            ShowRef {
                channel: ChannelId::parse("chan2").unwrap(),
                ..good.clone()
            },
            ShowRef {
                product: ProductId::parse("mug").unwrap(),
                ..good.clone()
            },
        ] {
            assert!(!s.verify(&changed, TagUse::Player), "{changed:?}");
        }
        assert_eq!(ShowSigner::new(&[1; 8]).unwrap_err(), KeyError::TooShort(8));
        assert!(ShowSigner::from_hex("zz".repeat(16).as_str()).is_err());
        assert!(ShowSigner::from_hex(&"07".repeat(32))
            .unwrap()
            .verify(&good, TagUse::Player));
    }

    #[test]
    fn stamping_a_cue_tags_every_show() {
        let mut cue =
            Cue::decode(r#"{"v":1,"seq":50,"show":[{"id":"cap","left":4,"s":42}]}"#).unwrap();
        let channel = ChannelId::parse("chan1").unwrap();
        signer().stamp(&mut cue, &channel);
        assert_eq!(cue.channel, Some(channel));
        assert_eq!(cue.show[0].tag, Some(show(&signer()).tag));
        assert_eq!(
            cue.show[0].scan_tag.as_ref(),
            Some(&scan_link(&signer()).show.tag)
        );
        assert!(cue.encode().is_ok());
    }

    #[test]
    fn good_events_of_a_mixed_batch_count_and_the_bad_one_is_named() {
        let c = Collector::new(catalog(), signer());
        let good = show(&signer());
        let forged = ShowRef {
            tag: ShowTag::parse("AAAAAAAA").unwrap(),
            ..good.clone()
        };
        let removed = ShowRef {
            product: ProductId::parse("mug").unwrap(),
            ..good.clone()
        };
        // 49 good events and one for a product no longer in the catalog.
        let mut events: Vec<(String, EventKind, ShowRef)> = (0..49)
            .map(|i| (format!("e{i}"), EventKind::Impression, good.clone()))
            .collect();
        events.insert(17, ("gone".into(), EventKind::Impression, removed.clone()));
        let accepted = c
            .accept_batch(&batch("v1", events), "198.51.100.7", BROWSER, 1000)
            .unwrap();
        assert_eq!(accepted.events.len(), 49);
        assert!(accepted
            .events
            .iter()
            .all(|e| !e.robot && e.measure == Measure::Impression));
        assert_eq!(accepted.refused.len(), 1);
        let refused = &accepted.refused[0];
        assert_eq!((refused.index, refused.id.as_deref()), (17, Some("gone")));
        assert!(
            refused.error.contains("events[17].product")
                && refused.error.contains("not in the catalog"),
            "{}",
            refused.error
        );

        // The answer: each event's outcome in batch order, 200.
        let mut summary = RecordSummary::default();
        for i in 0..49 {
            summary.add(if i == 0 {
                Outcome::Duplicate
            } else {
                Outcome::Counted
            });
        }
        let (status, body) = batch_answer(&accepted, &summary);
        assert_eq!(status, 200);
        assert_eq!(
            (
                body["counted"].as_u64(),
                body["duplicates"].as_u64(),
                body["refused"].as_u64()
            ),
            (Some(48), Some(1), Some(1))
        );
        let answered = body["events"].as_array().unwrap();
        assert_eq!(answered.len(), 50);
        assert_eq!(
            (answered[0]["id"].as_str(), answered[0]["status"].as_str()),
            (Some("e0"), Some("duplicate"))
        );
        assert_eq!(
            (answered[17]["id"].as_str(), answered[17]["status"].as_str()),
            (Some("gone"), Some("refused"))
        );
        assert_eq!(
            (answered[18]["id"].as_str(), answered[18]["status"].as_str()),
            (Some("e17"), Some("counted"))
        );

        // A forged tag and a malformed event are refused alike; when nothing
        // of a batch can be taken, the answer is 400 with the first reason.
        let text = batch("v1", vec![("e9".into(), EventKind::Viewable, forged)]);
        let text = text.replace("]}", r#",{"id":"e10","type":"click","show":"x"}]}"#);
        let none = c
            .accept_batch(&text, "198.51.100.7", BROWSER, 1000)
            .unwrap();
        assert!(none.events.is_empty());
        assert!(
            none.refused[0].error.contains("events[0].tag"),
            "{:?}",
            none.refused
        );
        assert!(
            none.refused[1].error.contains("events[1].type"),
            "{:?}",
            none.refused
        );
        let (status, body) = batch_answer(&none, &RecordSummary::default());
        assert_eq!(status, 400);
        assert!(
            body["error"].as_str().unwrap().contains("events[0].tag"),
            "{body}"
        );

        // A bad frame still refuses the whole batch.
        assert!(matches!(
            c.accept_batch("{", "198.51.100.7", BROWSER, 1000),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn each_viewer_has_a_bounded_rate_and_memory_is_bounded() {
        let c = Collector::new(catalog(), signer());
        let good = show(&signer());
        let events = |n: usize, from: usize| -> Vec<(String, EventKind, ShowRef)> {
            (from..from + n)
                .map(|i| (format!("e{i}"), EventKind::Dismiss, good.clone()))
                .collect()
        };
        let mut sent = 0;
        while sent + 50 <= EVENTS_PER_VIEWER_MINUTE as usize {
            c.accept_batch(
                &batch("busy", events(50, sent)),
                "198.51.100.7",
                BROWSER,
                60,
            )
            .unwrap();
            sent += 50;
        }
        let err = c
            .accept_batch(
                &batch("busy", events(50, sent)),
                "198.51.100.7",
                BROWSER,
                119,
            )
            .unwrap_err();
        assert_eq!(err.status(), 429);
        // Another viewer, and the next minute, are not held back.
        c.accept_batch(&batch("calm", events(1, 0)), "198.51.100.7", BROWSER, 119)
            .unwrap();
        c.accept_batch(
            &batch("busy", events(50, sent)),
            "198.51.100.7",
            BROWSER,
            120,
        )
        .unwrap();

        // One address making up a viewer id per beacon: its own budget
        // runs out, another address's does not.
        let c = Collector::new(catalog(), signer());
        let taken = (0..1000)
            .filter(|i| {
                c.accept_batch(
                    &batch(&format!("made-up{i}"), events(1, 0)),
                    "203.0.113.66",
                    BROWSER,
                    600,
                )
                .is_ok()
            })
            .count();
        assert_eq!(taken, EVENTS_PER_CLIENT_MINUTE as usize);
        assert_eq!(
            c.accept_batch(&batch("x", events(1, 0)), "203.0.113.66", BROWSER, 601)
                .unwrap_err()
                .status(),
            429
        );
        c.accept_batch(&batch("x", events(1, 0)), "203.0.113.67", BROWSER, 601)
            .unwrap();

        let mut limiter = RateLimiter::new(1, 3);
        for v in ["a", "b", "c", "d"] {
            assert!(limiter.admit(v, 1, 0));
        }
        assert_eq!(limiter.windows.len(), 3, "the oldest viewer is forgotten");
    }

    #[test]
    fn robots_are_recorded_but_flagged() {
        for ua in [
            "",
            "curl/8.5.0",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "facebookexternalhit/1.1",
            "python-requests/2.32",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "WhatsApp/2.23.20.0 A",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0 Safari/537.36",
            "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        ] {
            assert!(is_robot(ua), "{ua}");
        }
        assert!(!is_robot(BROWSER));
        // A Cubot phone is a phone: "bot" inside a word is not a robot.
        assert!(!is_robot(
            "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
        ));
        assert!(!is_robot(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
        ));
    }

    #[test]
    fn only_a_get_that_is_no_prefetch_follows_a_link() {
        assert!(link_fetch_counts("GET", None));
        assert!(link_fetch_counts("get", Some("")));
        assert!(!link_fetch_counts("HEAD", None));
        assert!(!link_fetch_counts("POST", None));
        for purpose in ["prefetch", "prefetch;prerender", "Prefetch", "preview"] {
            assert!(!link_fetch_counts("GET", Some(purpose)), "{purpose}");
        }
    }

    #[test]
    fn a_link_counts_once_per_client_and_window_whatever_the_viewer_id() {
        let c = Collector::new(catalog(), signer());
        let token = scan_link(&signer()).token();
        let key = |v: &str, client: &str, at: UnixSeconds| {
            c.follow_link(&token, Some(v), client, BROWSER, at)
                .and_then(|f| f.recorded)
                .unwrap()
                .dedupe_key()
        };
        let first = key("v1", "198.51.100.7", 1200);
        // `?v=$i` in a loop, within the window: one key, so one count.
        for (i, at) in [(2, 1200), (3, 1500), (4, 1799)] {
            assert_eq!(key(&format!("v{i}"), "198.51.100.7", at), first);
        }
        // The next window, or another client, counts again.
        assert_ne!(key("v1", "198.51.100.7", 1800), first);
        assert_ne!(key("v1", "198.51.100.8", 1200), first);
        // A player's events still dedupe within their viewer.
        let event = |viewer: &str| Recorded {
            event_id: "e1".into(),
            viewer: viewer.into(),
            measure: Measure::Impression,
            channel: "c".into(),
            product: "p".into(),
            show: 1,
            at: 0,
            robot: false,
        };
        assert_ne!(event("a").dedupe_key(), event("b").dedupe_key());
    }

    #[test]
    fn links_redirect_only_to_the_catalog_and_dedupe_per_client_window() {
        let c = Collector::new(catalog(), signer());
        let link = scan_link(&signer());
        let token = link.token();
        let follow = |at: UnixSeconds| c.follow_link(&token, None, "127.0.0.1", BROWSER, at);
        let first = follow(500).unwrap();
        assert_eq!(first.location, "https://shop.test/cap");
        let rec = first.recorded.unwrap();
        assert_eq!(rec.measure, Measure::Scan);
        let again = follow(500).and_then(|f| f.recorded).unwrap();
        assert_eq!(rec.event_id, again.event_id, "same client, same window");
        let later = follow(500 + LINK_WINDOW_SECONDS)
            .and_then(|f| f.recorded)
            .unwrap();
        // A month after the show, the link still redirects and counts nothing.
        let expired = follow(SHOW_COUNTS_FOR_SECONDS + 1000).unwrap();
        assert_eq!(
            (expired.location.as_str(), expired.recorded),
            ("https://shop.test/cap", None)
        );
        assert_ne!(rec.event_id, later.event_id);
        let other = c
            .follow_link(&token, None, "127.0.0.2", BROWSER, 500)
            .and_then(|f| f.recorded)
            .unwrap();
        assert_ne!(rec.event_id, other.event_id);

        let forged = token.replace(link.show.tag.as_str(), "AAAAAAAA");
        assert!(c.follow_link(&forged, None, "x", BROWSER, 500).is_none());
        assert!(c.follow_link("q.x", None, "x", BROWSER, 500).is_none());
        // The kind letter swapped: the tag is the scan's, so no link.
        let swapped = TrackingLink {
            kind: LinkKind::Click,
            ..link.clone()
        };
        assert!(c
            .follow_link(&swapped.token(), Some("viewer9"), "x", BROWSER, 500)
            .is_none());
        let click = signer().link(
            LinkKind::Click,
            &link.show.channel,
            &link.show.product,
            link.show.show,
        );
        assert!(c
            .follow_link(
                &click.token().replacen('o', "q", 1),
                None,
                "x",
                BROWSER,
                500
            )
            .is_none());
        let rec = c
            .follow_link(&click.token(), Some("viewer9"), "x", BROWSER, 500)
            .and_then(|f| f.recorded)
            .unwrap();
        assert_eq!(
            (rec.measure, rec.viewer.as_str()),
            (Measure::Click, "viewer9")
        );
    }

    #[test]
    fn the_report_agrees_across_formats() {
        let mut a = ShowCounts {
            channel: "chan1".into(),
            product: "cap".into(),
            show: 42,
            ..ShowCounts::default()
        };
        a.add(Measure::Impression, 4);
        a.add(Measure::Viewable, 3);
        a.add(Measure::Click, 1);
        a.add(Measure::Scan, 1);
        let table = render_report(std::slice::from_ref(&a), ReportFormat::Table);
        assert!(
            table.contains("0.7500") && table.contains("0.5000"),
            "{table}"
        );
        let csv = render_report(std::slice::from_ref(&a), ReportFormat::Csv);
        assert_eq!(
            csv.lines().nth(1),
            Some("chan1,cap,42,4,3,0.7500,1,1,0.5000")
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_report(&[a], ReportFormat::Json)).unwrap();
        assert_eq!(json[0]["click_through_rate"], 0.5);
        assert_eq!(json[0]["view_rate"], 0.75);
        assert!(render_report(&[], ReportFormat::Table).contains("no shows"));
    }

    #[test]
    fn hours_are_utc_calendar_hours() {
        assert_eq!(crate::calendar::hour_of(0), "1970-01-01T00");
        assert_eq!(crate::calendar::hour_of(1_796_300_000), "2026-12-03T12");
        assert_eq!(
            crate::calendar::hour_of(951_782_400 + 3 * 3600),
            "2000-02-29T03"
        );
    }

    #[test]
    fn base64url_matches_the_standard() {
        assert_eq!(base64url(b"\xfb\xff\xbf"), "-_-_");
        assert_eq!(base64url(b"Man"), "TWFu");
        assert_eq!(base64url(&[0; 6]), "AAAAAAAA");
    }
}
