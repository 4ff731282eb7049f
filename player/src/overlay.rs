//! What the overlay shows, as a pure function of cues and time. Cues are
//! level-triggered: each one is the channel's whole set, so the overlay is
//! the latest cue's set, each card counting down from that cue's `left`.
//! "Latest" is by the cue's `seq` when it has one: IVS may deliver two cues
//! from concurrent writers out of order, and a cue older than one already
//! applied is dropped (see `ad_contract::Cue::supersedes`).

use ad_contract::{Cue, CueError, ShowKey, ShowRef, ShowTag};

/// A card on screen: a catalog product id and when its time is up
/// (milliseconds on the page's monotonic clock, `performance.now()`).
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub id: String,
    pub ends_at_ms: f64,
    /// The show this card belongs to, when the cue was measured (it named
    /// the channel, and the entry its show and tag).
    pub show: Option<ShowKey>,
    /// The same show with the tag of its QR-code link (the cue's `q`).
    pub scan: Option<ShowKey>,
    /// Marked sold out by the operator (the cue's `x`): no QR code, no link.
    pub sold_out: bool,
}

/// What a cue did to the overlay, for logging.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CueOutcome {
    /// Ids the catalog does not know (ignored).
    pub unknown: Vec<String>,
    /// Ids that were not on screen before this cue.
    pub new: Vec<String>,
    /// The cue was built from an older state than one already applied, and
    /// changed nothing.
    pub out_of_order: bool,
}

#[derive(Debug, Default)]
pub struct Overlay {
    shown: Vec<Shown>,
    /// Cards the viewer closed: they stay closed while later cues keep
    /// listing them, and may show again once a cue no longer does.
    /// (A Vec: it holds a handful of ids, and hashing would cost wasm size.)
    dismissed: Vec<String>,
    /// The highest `seq` applied so far.
    newest_seq: Option<u64>,
}

impl Overlay {
    /// Applies a cue's text at `now_ms`. A malformed or unsupported cue
    /// changes nothing and is returned as the error to warn about.
    pub fn apply_cue(
        &mut self,
        text: &str,
        now_ms: f64,
        known: impl Fn(&str) -> bool,
    ) -> Result<CueOutcome, CueError> {
        Ok(self.apply(&Cue::decode(text)?, now_ms, &known, true))
    }

    /// A replay's cue, whatever its `seq`: the timeline is in stream
    /// order, and a seek back applies an older cue on purpose. `at_ms`:
    /// the cue's time on the replay's clock (the video's).
    pub fn replay_cue(
        &mut self,
        cue: &Cue,
        at_ms: f64,
        known: impl Fn(&str) -> bool,
    ) -> CueOutcome {
        self.apply(cue, at_ms, &known, false)
    }

    /// One body for the live and the replay paths (`known` as a trait
    /// object, so the wasm has one copy). `ordered`: a cue older than one
    /// applied is dropped (live); a replay applies whatever it is given.
    fn apply(
        &mut self,
        cue: &Cue,
        now_ms: f64,
        known: &dyn Fn(&str) -> bool,
        ordered: bool,
    ) -> CueOutcome {
        if ordered && !cue.supersedes(self.newest_seq) {
            return CueOutcome {
                out_of_order: true,
                ..CueOutcome::default()
            };
        }
        self.newest_seq = if ordered {
            cue.seq.or(self.newest_seq)
        } else {
            None
        };
        let mut outcome = CueOutcome::default();
        self.dismissed
            .retain(|id| cue.show.iter().any(|i| i.id.as_str() == id));
        let mut next = Vec::with_capacity(cue.show.len());
        for item in &cue.show {
            let id = item.id.as_str();
            if !known(id) {
                outcome.unknown.push(id.to_string());
                continue;
            }
            if self.dismissed.iter().any(|d| d == id) || next.iter().any(|s: &Shown| s.id == id) {
                continue;
            }
            if !self.shown.iter().any(|s| s.id == id) {
                outcome.new.push(id.to_string());
            }
            let key = |tag: &Option<ShowTag>| {
                Some(
                    ShowRef {
                        channel: cue.channel.clone()?,
                        product: item.id.clone(),
                        show: item.show?,
                        tag: tag.clone()?,
                    }
                    .key(),
                )
            };
            next.push(Shown {
                id: id.to_string(),
                ends_at_ms: now_ms + f64::from(item.seconds_left) * 1000.0,
                show: key(&item.tag),
                scan: key(&item.scan_tag),
                sold_out: item.sold_out,
            });
        }
        self.shown = next;
        outcome
    }

    /// Drops the cards whose time is up; true when something changed.
    pub fn expire(&mut self, now_ms: f64) -> bool {
        let before = self.shown.len();
        self.shown.retain(|s| s.ends_at_ms > now_ms);
        before != self.shown.len()
    }

    /// The viewer closed a card.
    pub fn dismiss(&mut self, id: &str) {
        self.shown.retain(|s| s.id != id);
        if !self.dismissed.iter().any(|d| d == id) {
            self.dismissed.push(id.to_string());
        }
    }

    pub fn shown(&self) -> &[Shown] {
        &self.shown
    }
}

/// Whole seconds left, rounded up, never negative.
pub fn seconds_left(ends_at_ms: f64, now_ms: f64) -> u32 {
    ((ends_at_ms - now_ms) / 1000.0).ceil().max(0.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: &str) -> bool {
        matches!(id, "kestrel" | "lumen" | "tidewater")
    }

    #[test]
    fn a_cue_from_an_older_state_never_undoes_a_newer_one() {
        // on-thumbnail writes version 8 (lumen shows) while on-tick's
        // version 7 (kestrel only) is still in flight; IVS delivers 8 first.
        let mut o = Overlay::default();
        let v8 = r#"{"v":1,"seq":8,"show":[{"id":"kestrel","left":10},{"id":"lumen","left":20}]}"#;
        let v7 = r#"{"v":1,"seq":7,"show":[{"id":"kestrel","left":10}]}"#;
        o.apply_cue(v8, 0.0, known).unwrap();
        let late = o.apply_cue(v7, 100.0, known).unwrap();
        assert!(late.out_of_order);
        assert_eq!(o.shown().len(), 2, "lumen stays");
        // A clear from an older state does not take cards off either...
        let old_clear = o
            .apply_cue(r#"{"v":1,"seq":6,"show":[]}"#, 200.0, known)
            .unwrap();
        assert!(old_clear.out_of_order && o.shown().len() == 2);
        // ...a re-publish of the same state and a newer one do.
        assert!(!o.apply_cue(v8, 300.0, known).unwrap().out_of_order);
        o.apply_cue(r#"{"v":1,"seq":9,"show":[]}"#, 400.0, known)
            .unwrap();
        assert!(o.shown().is_empty());
        // A cleared card does not come back from the older cue.
        assert!(o.apply_cue(v8, 500.0, known).unwrap().out_of_order);
        assert!(o.shown().is_empty());
        // A cue without seq (an older backend) is applied as before.
        o.apply_cue(r#"{"v":1,"show":[{"id":"lumen","left":5}]}"#, 600.0, known)
            .unwrap();
        assert_eq!(o.shown().len(), 1);
    }

    #[test]
    fn the_latest_cue_is_the_whole_set() {
        let mut o = Overlay::default();
        let out = o
            .apply_cue(
                r#"{"v":1,"show":[{"id":"kestrel","left":20},{"id":"lumen","left":5}]}"#,
                1000.0,
                known,
            )
            .unwrap();
        assert_eq!(out.new, vec!["kestrel", "lumen"]);
        assert_eq!(o.shown().len(), 2);
        assert_eq!(o.shown()[0].ends_at_ms, 21_000.0);
        // A re-published cue: same set, countdown from the new cue; nothing new.
        let out = o
            .apply_cue(
                r#"{"v":1,"show":[{"id":"kestrel","left":15}]}"#,
                6000.0,
                known,
            )
            .unwrap();
        assert!(out.new.is_empty());
        assert_eq!(
            o.shown(),
            &[Shown {
                id: "kestrel".into(),
                ends_at_ms: 21_000.0,
                show: None,
                scan: None,
                sold_out: false,
            }]
        );
        o.apply_cue(
            r#"{"v":1,"show":[{"id":"kestrel","left":15,"x":1}]}"#,
            6500.0,
            known,
        )
        .unwrap();
        assert!(o.shown()[0].sold_out, "the card says sold out");
        o.apply_cue(r#"{"v":1,"show":[]}"#, 7000.0, known).unwrap();
        assert!(o.shown().is_empty());
    }

    #[test]
    fn a_measured_cue_gives_each_card_its_show() {
        let mut o = Overlay::default();
        o.apply_cue(
            r#"{"v":1,"seq":9,"ch":"Chan1","show":[{"id":"kestrel","left":5,"s":7,"t":"Qx3_9aZk","q":"Zq9-aB3x"},{"id":"lumen","left":5}]}"#,
            0.0,
            known,
        )
        .unwrap();
        let show = o.shown()[0].show.as_ref().unwrap();
        assert_eq!(show.as_str(), "Chan1.kestrel.7.Qx3_9aZk");
        let scan = o.shown()[0].scan.as_ref().unwrap();
        assert_eq!(scan.as_str(), "Chan1.kestrel.7.Zq9-aB3x");
        assert!(o.shown()[1].show.is_none(), "no show id, no measurement");
    }

    #[test]
    fn bad_cues_change_nothing_and_unknown_products_are_skipped() {
        let mut o = Overlay::default();
        o.apply_cue(r#"{"v":1,"show":[{"id":"kestrel","left":20}]}"#, 0.0, known)
            .unwrap();
        for bad in [
            "",
            "not json",
            "{}",
            r#"{"v":2,"show":[]}"#,
            r#"{"v":1,"show":[{"id":"BAD ID","left":1}]}"#,
            "\u{0}\u{1}",
        ] {
            assert!(o.apply_cue(bad, 100.0, known).is_err(), "{bad:?}");
            assert_eq!(o.shown().len(), 1);
        }
        let out = o
            .apply_cue(
                r#"{"v":1,"show":[{"id":"nope","left":20},{"id":"lumen","left":9}]}"#,
                0.0,
                known,
            )
            .unwrap();
        assert_eq!(out.unknown, vec!["nope"]);
        assert_eq!(o.shown().len(), 1);
        assert_eq!(o.shown()[0].id, "lumen");
    }

    #[test]
    fn cards_leave_when_their_time_is_up() {
        let mut o = Overlay::default();
        o.apply_cue(
            r#"{"v":1,"show":[{"id":"kestrel","left":2},{"id":"lumen","left":5}]}"#,
            0.0,
            known,
        )
        .unwrap();
        assert!(!o.expire(1999.0));
        assert!(o.expire(2000.0));
        assert_eq!(o.shown().len(), 1);
        assert_eq!(seconds_left(5000.0, 2000.0), 3);
        assert_eq!(seconds_left(5000.0, 2001.0), 3);
        assert_eq!(seconds_left(5000.0, 9000.0), 0);
    }

    #[test]
    fn a_replay_applies_an_older_cue_after_a_seek_back() {
        let mut o = Overlay::default();
        let late = Cue::decode(r#"{"v":1,"seq":9,"show":[]}"#).unwrap();
        let early = Cue::decode(r#"{"v":1,"seq":3,"show":[{"id":"kestrel","left":20}]}"#).unwrap();
        o.replay_cue(&late, 40_000.0, known);
        let out = o.replay_cue(&early, 10_000.0, known);
        assert_eq!(out.new, vec!["kestrel"]);
        assert_eq!(
            o.shown()[0].ends_at_ms,
            30_000.0,
            "counted on the video's clock"
        );
    }

    #[test]
    fn a_dismissed_card_stays_closed_until_the_cue_drops_it() {
        let mut o = Overlay::default();
        let show = r#"{"v":1,"show":[{"id":"kestrel","left":20}]}"#;
        o.apply_cue(show, 0.0, known).unwrap();
        o.dismiss("kestrel");
        assert!(o.shown().is_empty());
        o.apply_cue(show, 5000.0, known).unwrap();
        assert!(o.shown().is_empty(), "re-published cue does not reopen it");
        o.apply_cue(r#"{"v":1,"show":[]}"#, 6000.0, known).unwrap();
        let out = o.apply_cue(show, 60_000.0, known).unwrap();
        assert_eq!(out.new, vec!["kestrel"], "a later showing opens again");
    }
}
