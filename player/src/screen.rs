//! What one player shows, driven by cues, the catalog and the clock, with no
//! IVS player involved: the IVS binding in `lib.rs` feeds it events, and the
//! wasm tests (`tests/web.rs`) feed it directly.

use crate::app::{CatalogView, PlayerState};
use ad_contract::{Catalog, Cue};
use leptos::prelude::*;
use std::cell::RefCell;

/// Distinct warnings remembered; past this, repeats may warn again.
const MAX_WARNINGS_REMEMBERED: usize = 32;

pub struct Screen {
    pub state: PlayerState,
    /// A cue that arrived before the catalog, with its `seq`; the newest is
    /// applied then.
    pending_cue: RefCell<Option<(String, Option<u64>)>>,
    /// Warnings already given, so a repeated bad cue warns once.
    warned: RefCell<Vec<String>>,
}

impl Screen {
    pub fn new(state: PlayerState) -> Self {
        Self {
            state,
            pending_cue: RefCell::new(None),
            warned: RefCell::new(Vec::new()),
        }
    }

    /// Takes a catalog (JSON text) and the URL its relative image paths
    /// resolve against. An invalid one is refused with every problem listed,
    /// and the screen keeps the catalog it had.
    pub fn set_catalog(&self, json: &str, base_url: &str, now_ms: f64) -> Result<(), String> {
        let catalog = Catalog::from_json(json).map_err(|e| e.to_string())?;
        self.state.cards.update(|c| {
            c.catalog = Some(CatalogView {
                catalog,
                base_url: base_url.to_string(),
            });
        });
        let pending = self.pending_cue.borrow_mut().take();
        if let Some((text, _)) = pending {
            self.apply_cue(&text, now_ms);
        }
        Ok(())
    }

    /// Applies a cue's text at `now_ms` (`performance.now()`). A malformed
    /// cue or an unknown product changes nothing and warns once.
    pub fn apply_cue(&self, text: &str, now_ms: f64) {
        if self.state.cards.with_untracked(|c| c.catalog.is_none()) {
            let mut pending = self.pending_cue.borrow_mut();
            let pending_seq = pending.as_ref().and_then(|(_, seq)| *seq);
            // A cue that cannot be read replaces the pending one, so its
            // warning is given once the catalog arrives.
            let cue = Cue::decode(text).ok();
            if cue.as_ref().is_none_or(|c| c.supersedes(pending_seq)) {
                *pending = Some((text.to_string(), cue.and_then(|c| c.seq)));
            }
            return;
        }
        self.state.chrome.update(|c| c.now_ms = now_ms);
        let mut result = None;
        self.state.cards.update(|c| {
            let Some(view) = &c.catalog else { return };
            let known = |id: &str| view.catalog.get_str(id).is_some();
            result = Some(c.overlay.apply_cue(text, now_ms, known).map(|outcome| {
                // The newest card is announced by its title and price.
                let newest = outcome.new.last().and_then(|id| view.catalog.get_str(id));
                let announcement = newest.map(|p| format!("Now showing: {}, {}", p.title, p.price));
                (outcome.unknown, announcement)
            }));
        });
        match result {
            Some(Ok((unknown, announcement))) => {
                for id in &unknown {
                    self.warn_once(format!(
                        "cue names product \"{id}\", which the catalog lacks; skipped"
                    ));
                }
                if let Some(text) = announcement {
                    self.state.chrome.update(|c| c.announcement = text);
                }
            }
            Some(Err(e)) => self.warn_once(format!("ignored a cue ({e})")),
            None => {}
        }
    }

    /// Advances the countdowns to `now_ms` and drops the cards whose time is up.
    pub fn tick(&self, now_ms: f64) {
        self.state.chrome.update(|c| c.now_ms = now_ms);
        let due = self
            .state
            .cards
            .with_untracked(|c| c.overlay.shown().iter().any(|s| s.ends_at_ms <= now_ms));
        if due {
            self.state.cards.update(|c| {
                c.overlay.expire(now_ms);
            });
        }
    }

    /// How many cards show.
    pub fn card_count(&self) -> usize {
        self.state.cards.with_untracked(|c| c.overlay.shown().len())
    }

    /// The warnings given so far, oldest first.
    pub fn warnings(&self) -> Vec<String> {
        self.warned.borrow().clone()
    }

    fn warn_once(&self, message: String) {
        let mut warned = self.warned.borrow_mut();
        if warned.contains(&message) {
            return;
        }
        if warned.len() == MAX_WARNINGS_REMEMBERED {
            warned.remove(0);
        }
        web_sys::console::warn_1(&format!("ivs-ad-player: {message}").into());
        warned.push(message);
    }
}
