//! What the player reports about its cards, as a pure function of what it
//! sees. `player.js` tells it, every 250 ms, which cards are rendered,
//! whether the video plays, which cards are at least half in view (from an
//! IntersectionObserver) and whether the tab is visible and focused; this
//! decides the events and batches them, and `player.js` sends the batches
//! with `navigator.sendBeacon`.
//!
//! The browser plumbing lives in JS on purpose: the same observer, page
//! listeners and beacon through web-sys bindings cost 6 KB of the player's
//! gzipped wasm (measured), twice the whole feature's budget.
//!
//! The rules (docs/measurement.md has the definitions):
//! * **impression**: once per show, when the card is rendered while the
//!   video plays;
//! * **viewable**: once per show, after an impression, when at least half
//!   the card stayed in view in a visible, focused tab for one continuous
//!   second (MRC's display rule: a card is a display-style overlay);
//! * **open** and **dismiss**: each time the viewer does it.
//!
//! Nothing is reported without a collector, and no event without a show
//! (a cue from a backend without measurement).

use ad_contract::measure::{batch_json, EventKind, LinkKind, OpaqueId, ShowKey, MAX_BATCH_EVENTS};

/// MRC: a display ad is viewable after one continuous second.
pub const VIEWABLE_MS: f64 = 1000.0;
/// A batch goes out this long after the previous one at the latest...
pub const FLUSH_EVERY_MS: f64 = 2000.0;
/// ...or at once when this many events wait.
pub const FLUSH_AT_EVENTS: usize = 20;
/// Events kept while beacons cannot go out; later ones are dropped (and
/// counted in `dropped`).
pub const MAX_QUEUED: usize = 200;
/// Shows remembered (a page left open for days stays small). Past this the
/// memory starts over: at worst a show still on screen is counted again.
const MAX_REMEMBERED: usize = 256;
/// Longest event-id prefix: with a counter it stays within an event id.
const MAX_PREFIX: usize = 16;

/// What one player has reported about one show.
#[derive(Debug)]
struct Seen {
    show: ShowKey,
    impression: bool,
    viewable: bool,
    /// In view in a visible, focused tab since then (page clock, ms).
    since: Option<f64>,
    /// Rendered at the current look (see [`Measurer::end_look`]).
    looked: bool,
}

/// One player's measurement: exists only with a collector.
///
/// The code is shaped by the player's size budget (measured with
/// `twiggy diff`): one list of per-show records rather than several, no
/// `retain`/`collect` over the queue, no character filtering.
#[derive(Debug)]
pub struct Measurer {
    collector: String,
    viewer: OpaqueId,
    /// This player's event-id prefix: random, so two players on one page
    /// (one viewer id) never make the same event id.
    prefix: String,
    next: u32,
    queue: Vec<(OpaqueId, EventKind, ShowKey)>,
    shows: Vec<Seen>,
    last_flush_ms: f64,
    /// Events dropped because the queue was full.
    pub dropped: u32,
    /// The player plays a recording: its events and links say replay.
    pub replay: bool,
}

impl Measurer {
    /// Measures through the collector at `collector` (its origin, as
    /// `URL.origin` gives it: no final `/`). `None` when `viewer` or
    /// `prefix` is not a valid id (`player.js` makes both from
    /// `[0-9a-z]`), which leaves measurement off.
    pub fn new(collector: String, viewer: &str, prefix: &str) -> Option<Self> {
        let viewer = OpaqueId::parse(viewer).ok()?;
        if prefix.len() > MAX_PREFIX {
            return None;
        }
        OpaqueId::parse(prefix).ok()?;
        Some(Self {
            collector,
            viewer,
            prefix: prefix.to_string(),
            next: 0,
            queue: Vec::new(),
            shows: Vec::new(),
            last_flush_ms: 0.0,
            dropped: 0,
            replay: false,
        })
    }

    pub fn viewer(&self) -> &OpaqueId {
        &self.viewer
    }

    fn push(&mut self, show: &ShowKey, kind: EventKind) {
        if self.queue.len() >= MAX_QUEUED {
            self.dropped += 1;
            return;
        }
        self.next += 1;
        // Always valid: a checked prefix of at most 16 and a counter of at
        // most 10 characters.
        if let Ok(id) = OpaqueId::parse(&format!("{}{}", self.prefix, self.next)) {
            self.queue.push((id, kind, show.clone()));
        }
    }

    /// One look at a rendered card at `now_ms`: whether the video plays,
    /// whether at least half the card is in view, and whether the tab is
    /// visible and focused.
    pub fn observe(
        &mut self,
        show: &ShowKey,
        playing: bool,
        in_view: bool,
        page_ok: bool,
        now_ms: f64,
    ) {
        if !self.shows.iter().any(|s| s.show == *show) {
            if self.shows.len() >= MAX_REMEMBERED {
                self.shows.clear();
            }
            self.shows.push(Seen {
                show: show.clone(),
                impression: false,
                viewable: false,
                since: None,
                looked: false,
            });
        }
        let mut made = [None, None];
        if let Some(seen) = self.shows.iter_mut().find(|s| s.show == *show) {
            seen.looked = true;
            if playing && !seen.impression {
                seen.impression = true;
                made[0] = Some(EventKind::Impression);
            }
            if in_view && page_ok && seen.impression {
                let since = *seen.since.get_or_insert(now_ms);
                if now_ms - since >= VIEWABLE_MS && !seen.viewable {
                    seen.viewable = true;
                    made[1] = Some(EventKind::Viewable);
                }
            } else {
                // MRC needs one *continuous* second.
                seen.since = None;
            }
        }
        for kind in made.into_iter().flatten() {
            self.push(show, kind);
        }
    }

    /// Ends one look at the cards (a round of [`Measurer::observe`]):
    /// cards not rendered in it stop counting towards a view.
    pub fn end_look(&mut self) {
        for seen in self.shows.iter_mut() {
            if !seen.looked {
                seen.since = None;
            }
            seen.looked = false;
        }
    }

    /// The viewer opened or dismissed a card.
    pub fn record(&mut self, show: &ShowKey, kind: EventKind) {
        self.push(show, kind);
    }

    /// Whether a batch should go out now.
    pub fn due(&self, now_ms: f64) -> bool {
        !self.queue.is_empty()
            && (self.queue.len() >= FLUSH_AT_EVENTS
                || now_ms - self.last_flush_ms >= FLUSH_EVERY_MS)
    }

    /// The next batch's body, taken off the queue; `None` when nothing
    /// waits. `player.js` posts it to `<collector>/measure/events` and keeps
    /// it for the next look if the browser refuses the beacon.
    pub fn take_batch(&mut self, now_ms: f64) -> Option<String> {
        if self.queue.is_empty() {
            return None;
        }
        self.last_flush_ms = now_ms;
        let rest = self.queue.split_off(self.queue.len().min(MAX_BATCH_EVENTS));
        let events = std::mem::replace(&mut self.queue, rest);
        Some(batch_json(&self.viewer, self.replay, &events))
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// What the view needs to make tracking links.
    pub fn links(&self) -> Links {
        Links {
            collector: self.collector.clone(),
            viewer: self.viewer.clone(),
            replay: self.replay,
        }
    }
}

/// Makes a card's tracking links.
#[derive(Debug, Clone, PartialEq)]
pub struct Links {
    collector: String,
    viewer: OpaqueId,
    /// A replay's links, counted apart.
    pub replay: bool,
}

impl Links {
    pub fn link(&self, show: &ShowKey, kind: LinkKind) -> String {
        let link = kind.url(&self.collector, show, self.replay);
        match kind {
            // A click names the viewer, so the collector can tie it to the
            // page's events; a scan comes from a phone, which has none.
            LinkKind::Click => format!("{link}?v={}", self.viewer.as_str()),
            LinkKind::Scan => link,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ad_contract::measure::{ChannelId, EventBatch, ShowId, ShowRef, ShowTag};
    use ad_contract::ProductId;

    fn show(n: u64) -> ShowKey {
        ShowRef {
            channel: ChannelId::parse("Chan1").unwrap(),
            product: ProductId::parse("kestrel").unwrap(),
            show: ShowId(n),
            tag: ShowTag::parse("Qx3_9aZk").unwrap(),
        }
        .key()
    }

    fn measurer() -> Measurer {
        Measurer::new("http://127.0.0.1:8080".into(), "viewer1", "p1x").unwrap()
    }

    fn kinds(m: &mut Measurer) -> Vec<EventKind> {
        m.take_batch(1e9)
            .map(|body| {
                EventBatch::decode(&body)
                    .unwrap()
                    .events
                    .into_iter()
                    .map(|e| e.kind)
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_card_in_view_for_a_second_is_one_impression_and_one_view() {
        let mut m = measurer();
        let s = show(1);
        for t in (0..=3000).step_by(250) {
            m.observe(&s, true, true, true, f64::from(t));
        }
        assert_eq!(
            kinds(&mut m),
            vec![EventKind::Impression, EventKind::Viewable]
        );
        // A re-rendered card (a re-published cue) counts nothing more.
        m.observe(&s, true, true, true, 5000.0);
        assert!(kinds(&mut m).is_empty());
    }

    #[test]
    fn out_of_view_hidden_or_paused_cards_are_not_viewable() {
        let mut m = measurer();
        let s = show(1);
        for t in (0..=3000).step_by(250) {
            m.observe(&s, true, false, true, f64::from(t));
        }
        assert_eq!(kinds(&mut m), vec![EventKind::Impression]);

        let s = show(2);
        m.observe(&s, true, true, true, 0.0);
        m.observe(&s, true, true, true, 900.0);
        // The tab hidden: the run ends.
        m.observe(&s, true, true, false, 950.0);
        m.observe(&s, true, true, true, 1100.0);
        m.observe(&s, true, true, true, 2000.0);
        assert_eq!(
            kinds(&mut m),
            vec![EventKind::Impression],
            "the second must be continuous"
        );
        m.observe(&s, true, true, true, 2100.0);
        assert_eq!(kinds(&mut m), vec![EventKind::Viewable]);

        let s = show(3);
        for t in (0..=3000).step_by(250) {
            m.observe(&s, false, true, true, f64::from(t));
        }
        assert!(kinds(&mut m).is_empty(), "no impression while paused");
    }

    #[test]
    fn batches_are_bounded_and_ids_unique_per_player() {
        let mut m = measurer();
        let mut other = Measurer::new("http://c".into(), "viewer1", "p2y").unwrap();
        for n in 0..120 {
            m.observe(&show(n), true, false, true, 0.0);
            other.observe(&show(n), true, false, true, 0.0);
        }
        assert!(m.due(0.0));
        let events = EventBatch::decode(&m.take_batch(0.0).unwrap())
            .unwrap()
            .events;
        assert_eq!(events.len(), MAX_BATCH_EVENTS);
        assert_eq!(m.queued(), 120 - MAX_BATCH_EVENTS);
        let theirs = EventBatch::decode(&other.take_batch(0.0).unwrap())
            .unwrap()
            .events;
        assert!(events.iter().all(|e| theirs.iter().all(|t| t.id != e.id)));
        // A queue that is not drained stays within its bound.
        for n in 200..400 {
            m.record(&show(n), EventKind::Dismiss);
        }
        assert_eq!(m.queued(), MAX_QUEUED);
        assert!(m.dropped > 0);
    }

    /// The QR code must stay readable at 120 CSS px: a tracking link must
    /// not push it to a larger version than a plain shop link. QR version v
    /// is 17 + 4v modules wide; at version 6 (41 modules plus the 4-module
    /// quiet zone each side) a module is 2.4 CSS px, 4.8 device px on a
    /// phone-class screen.
    #[test]
    fn tracking_links_keep_the_qr_code_small() {
        let version = |link: &str| (crate::qr::qr_modules(link).unwrap().1 - 17) / 4;
        let show = ShowRef {
            channel: ChannelId::parse("AbCdEfGh1234").unwrap(),
            product: ProductId::parse("aurora-mug").unwrap(),
            show: ShowId(1_796_300_000_123),
            tag: ShowTag::parse("Qx3_9aZk").unwrap(),
        }
        .key();
        // The studio, and the hosted player's CloudFront name (the stack
        // routes /r/ there, so links are as short as the page's own).
        for (origin, max) in [
            ("http://127.0.0.1:8080", 5),
            ("https://d1a2b3c4d5e6f7.cloudfront.net", 6),
        ] {
            let m = Measurer::new(origin.into(), "viewer1", "p1x").unwrap();
            let link = m.links().link(&show, LinkKind::Scan);
            let v = version(&link);
            assert!(v <= max, "{link}: version {v} (at most {max})");
            // A typical shop link of the same length class, for comparison.
            assert!(
                v <= version("https://shop.example.com/products/aurora-mug?ref=live-stream") + 1
            );
        }
    }

    #[test]
    fn ids_must_be_valid_and_links_name_the_show() {
        assert!(Measurer::new("http://c".into(), "", "p").is_none());
        assert!(Measurer::new("http://c".into(), "v", "p/").is_none());
        assert!(Measurer::new("http://c".into(), "v", &"p".repeat(17)).is_none());
        let links = measurer().links();
        assert_eq!(
            links.link(&show(1), LinkKind::Scan),
            "http://127.0.0.1:8080/r/q.Chan1.kestrel.1.Qx3_9aZk"
        );
        assert!(links
            .link(&show(1), LinkKind::Click)
            .ends_with("/r/o.Chan1.kestrel.1.Qx3_9aZk?v=viewer1"));
    }

    #[test]
    fn a_card_that_leaves_the_page_restarts_its_second() {
        let mut m = measurer();
        let s = show(1);
        m.observe(&s, true, true, true, 0.0);
        m.observe(&s, true, true, true, 900.0);
        m.end_look();
        m.end_look();
        m.observe(&s, true, true, true, 1000.0);
        m.observe(&s, true, true, true, 1900.0);
        assert_eq!(kinds(&mut m), vec![EventKind::Impression]);
        m.observe(&s, true, true, true, 2000.0);
        assert_eq!(kinds(&mut m), vec![EventKind::Viewable]);
    }
}
