//! Replay: a recorded show's cards by the video's time, from its
//! `cues.json` ([`CueTimeline`]). The video's position is the clock: after
//! a seek the cards of that moment show at once, and while the video is
//! paused nothing counts down or expires. The live path (`Screen::apply_cue`)
//! is not used; the ID3 cues a recording also carries are ignored, since
//! they arrive only as the video plays through them, never after a seek.

use crate::app::{Cards, PlayerState};
use ad_contract::timeline::{CueTimeline, Marker};
use ad_contract::Product;
use leptos::prelude::*;

/// A replay's timeline and where in it the cards were last set.
pub struct Replay {
    pub timeline: CueTimeline,
    /// Where each product's card begins: the markers on the scrub bar.
    pub markers: Vec<Marker>,
    /// The cue applied last: its index + 1 in the timeline (0: none).
    applied: usize,
    /// The position (seconds) the cards were last set at.
    position: f64,
}

impl Replay {
    pub fn new(timeline: CueTimeline) -> Self {
        Self {
            markers: timeline.markers(),
            timeline,
            applied: 0,
            position: f64::NAN,
        }
    }

    /// The catalog of the cue applied last, when the recording keeps it.
    fn catalog(&self) -> Option<&ad_contract::Catalog> {
        let cue = self.timeline.cues.get(self.applied.checked_sub(1)?)?;
        self.timeline
            .catalogs
            .iter()
            .find(|(v, _)| *v == cue.catalog_version)
            .map(|(_, c)| c)
    }
}

impl Cards {
    /// The product a card shows: in a replay, as it was in the show's
    /// catalog version; only while the current catalog still has it (a
    /// product removed since does not show).
    pub fn product(&self, id: &str) -> Option<&Product> {
        let current = self.catalog.as_ref()?.catalog.get_str(id)?;
        let then = self.replay.as_ref().and_then(Replay::catalog);
        Some(then.and_then(|c| c.get_str(id)).unwrap_or(current))
    }
}

/// Sets the cards to those of second `t` of the replay (the video's
/// position). Cheap when nothing changed: the ticker calls it every 250 ms,
/// and the cards' view is told only of a change.
///
/// One `maybe_update` and one `update`: each closure given to a signal
/// instantiates Leptos's signal code again in the wasm (measured).
pub fn show_at(state: PlayerState, t: f64) {
    let t = if t.is_finite() { t.max(0.0) } else { 0.0 };
    let t_ms = t * 1000.0;
    let mut announcement = None;
    state.cards.maybe_update(|c| {
        let Cards {
            catalog,
            overlay,
            replay,
            ..
        } = c;
        let Some(r) = replay.as_mut() else {
            return false;
        };
        let index = r.timeline.cues.partition_point(|x| x.at <= t);
        // A new cue, or a seek back (a card that expired may be due again).
        let reapply = index != r.applied || r.position.is_nan() || t < r.position;
        r.position = t;
        if reapply {
            r.applied = index;
            let known = |id: &str| {
                catalog
                    .as_ref()
                    .is_some_and(|v| v.catalog.get_str(id).is_some())
            };
            let empty = ad_contract::Cue {
                seq: None,
                channel: None,
                show: Vec::new(),
            };
            let (cue, at) = match index.checked_sub(1).and_then(|i| r.timeline.cues.get(i)) {
                Some(tc) => (&tc.cue, tc.at),
                None => (&empty, 0.0),
            };
            announcement = overlay.replay_cue(cue, at * 1000.0, known).new.pop();
        }
        let expired = overlay.expire(t_ms);
        if let Some(id) = announcement.take() {
            announcement = c
                .product(&id)
                .map(|p| format!("Now showing: {}, {}", p.title, p.price));
        }
        reapply || expired
    });
    state.chrome.update(|c| {
        c.now_ms = t_ms;
        if let Some(text) = announcement {
            c.announcement = text;
        }
    });
}

/// The product timeline as `player.js` draws it: the length in ms, then
/// `<ms> <title>` a line,
/// for each card's start whose product the catalog still has. Whole
/// milliseconds: formatting a float would add its code to the wasm.
pub fn marker_lines(cards: &Cards) -> String {
    let mut out = String::new();
    if let Some(r) = &cards.replay {
        out.push_str(&format!("{}\n", (r.timeline.duration_secs * 1000.0) as u64));
        for m in &r.markers {
            if let Some(p) = cards.product(m.product.as_str()) {
                out.push_str(&format!("{} {}\n", (m.at * 1000.0) as u64, p.title));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::CatalogView;
    use ad_contract::Catalog;

    const CATALOG: &str = r#"{"products":[
        {"id":"kestrel","labels":["kestrel"],"title":"Kestrel now","description":"","price":"$2","image_url":"k.png","link_url":"https://shop.example.com/k","min_confidence":70,"display_seconds":20,"cooldown_seconds":60},
        {"id":"lumen","labels":["lumen"],"title":"Lumen","description":"","price":"$3","image_url":"l.png","link_url":"https://shop.example.com/l","min_confidence":70,"display_seconds":20,"cooldown_seconds":60}]}"#;

    fn replaying() -> PlayerState {
        let state = PlayerState::default();
        let then = CATALOG.replace("Kestrel now", "Kestrel then");
        let timeline = CueTimeline::from_json(&format!(
            r#"{{"version":1,"duration_secs":60,"cues":[
                {{"at":5,"catalog_version":"v1","cue":"{{\"v\":1,\"seq\":4,\"show\":[{{\"id\":\"kestrel\",\"left\":10}}]}}"}},
                {{"at":30,"catalog_version":"v1","cue":"{{\"v\":1,\"seq\":9,\"show\":[{{\"id\":\"lumen\",\"left\":10}},{{\"id\":\"gone\",\"left\":10}}]}}"}}],
              "catalogs":{{"v1":{}}}}}"#,
            ad_contract::json::quoted(&then)
        ))
        .expect("timeline");
        state.cards.update(|c| {
            c.catalog = Some(CatalogView {
                catalog: Catalog::from_json(CATALOG).expect("catalog"),
                base_url: "https://example.com/".into(),
            });
            c.replay = Some(Replay::new(timeline));
        });
        state
    }

    fn ids(state: PlayerState) -> Vec<String> {
        state
            .cards
            .with_untracked(|c| c.overlay.shown().iter().map(|s| s.id.clone()).collect())
    }

    #[test]
    fn the_cards_follow_the_video_time_through_seeks_both_ways() {
        let _owner = Owner::new();
        let state = replaying();
        show_at(state, 1.0);
        assert!(ids(state).is_empty(), "before the first cue");
        show_at(state, 31.0);
        assert_eq!(
            ids(state),
            vec!["lumen"],
            "a product removed since does not show"
        );
        show_at(state, 6.0);
        assert_eq!(
            ids(state),
            vec!["kestrel"],
            "a seek back applies the older cue"
        );
        show_at(state, 16.0);
        assert!(
            ids(state).is_empty(),
            "its time ran out on the video's clock"
        );
        show_at(state, 14.0);
        assert_eq!(
            ids(state),
            vec!["kestrel"],
            "back within one cue: due again"
        );
        show_at(state, 14.0);
        assert_eq!(ids(state), vec!["kestrel"], "paused: nothing expires");
        let title = state
            .cards
            .with_untracked(|c| c.product("kestrel").map(|p| p.title.clone()));
        assert_eq!(
            title.as_deref(),
            Some("Kestrel then"),
            "as it was in the show"
        );
        let markers = state.cards.with_untracked(|c| {
            c.replay
                .as_ref()
                .map(|r| r.markers.iter().map(|m| m.at).collect::<Vec<_>>())
        });
        assert_eq!(markers, Some(vec![5.0, 30.0, 30.0]));
    }

    #[test]
    fn the_product_timeline_names_the_products_still_sold() {
        let _owner = Owner::new();
        let state = replaying();
        let lines = state.cards.with_untracked(marker_lines);
        assert_eq!(
            lines, "60000\n5000 Kestrel now\n30000 Lumen\n",
            "gone has no marker"
        );
    }
}
