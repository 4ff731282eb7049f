//! What one player shows, driven by cues, the catalog and the clock, with no
//! IVS player involved: the IVS binding in `lib.rs` feeds it events, and the
//! wasm tests (`tests/web.rs`) feed it directly.

use crate::app::{CatalogView, PlayerState};
use ad_contract::Catalog;
use leptos::prelude::*;
use std::cell::RefCell;
use std::sync::Arc;

/// Distinct warnings remembered; past this, repeats may warn again.
const MAX_WARNINGS_REMEMBERED: usize = 32;

pub struct Screen {
    pub state: PlayerState,
    /// A cue that arrived before the catalog; the newest is applied then.
    pending_cue: RefCell<Option<String>>,
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
        self.state.catalog.set(Some(Arc::new(CatalogView {
            catalog,
            base_url: base_url.to_string(),
        })));
        let pending = self.pending_cue.borrow_mut().take();
        if let Some(text) = pending {
            self.apply_cue(&text, now_ms);
        }
        Ok(())
    }

    /// Applies a cue's text at `now_ms` (`performance.now()`). A malformed
    /// cue or an unknown product changes nothing and warns once.
    pub fn apply_cue(&self, text: &str, now_ms: f64) {
        let Some(view) = self.state.catalog.get_untracked() else {
            *self.pending_cue.borrow_mut() = Some(text.to_string());
            return;
        };
        self.state.now_ms.set(now_ms);
        let mut result = None;
        self.state.overlay.update(|o| {
            result = Some(o.apply_cue(text, now_ms, |id| view.catalog.get_str(id).is_some()));
        });
        match result {
            Some(Ok(outcome)) => {
                for id in &outcome.unknown {
                    self.warn_once(format!(
                        "cue names product \"{id}\", which the catalog lacks; skipped"
                    ));
                }
                if let Some(product) = outcome.new.last().and_then(|id| view.catalog.get_str(id)) {
                    self.state
                        .announcement
                        .set(format!("Now showing: {}, {}", product.title, product.price));
                }
            }
            Some(Err(e)) => self.warn_once(format!("ignored a cue ({e})")),
            None => {}
        }
    }

    /// Advances the countdowns to `now_ms` and drops the cards whose time is up.
    pub fn tick(&self, now_ms: f64) {
        self.state.now_ms.set(now_ms);
        let due = self
            .state
            .overlay
            .with_untracked(|o| o.shown().iter().any(|s| s.ends_at_ms <= now_ms));
        if due {
            self.state.overlay.update(|o| {
                o.expire(now_ms);
            });
        }
    }

    /// How many cards show.
    pub fn card_count(&self) -> usize {
        self.state.overlay.with_untracked(|o| o.shown().len())
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
