//! The viewer player: the IVS web player with product cards and QR codes,
//! built with Leptos for wasm32 and embedded as `<ivs-ad-player>` (see
//! `web/player.js`). The logic deciding what shows is in [`overlay`] (pure,
//! host-tested); this file binds it to IVS events and the page's clock.

pub mod app;
pub mod ivs;
pub mod measure;
pub mod overlay;
pub mod qr;
pub mod replay;
pub mod screen;

use ad_contract::measure::EventKind;
use app::{player_view, Controls, PlayerState};
use leptos::prelude::*;
use measure::Measurer;
use screen::Screen;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

/// The allocator: Talc instead of Rust's default dlmalloc. Measured with
/// `./player/build.sh`: 2.5 KB less gzipped wasm (dlmalloc's malloc alone is
/// 4.8 KB of code), which paid for most of the measurement feature; Talc is
/// also faster than dlmalloc on wasm (its own benchmarks). The player is
/// single-threaded wasm, which Talc's wasm allocator requires.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// How often the countdowns and expiries advance.
const TICK: Duration = Duration::from_millis(250);

type EventListener = Closure<dyn FnMut(JsValue)>;

struct Inner {
    screen: Screen,
    player: ivs::MediaPlayer,
    /// What the cards report (see [`measure`]); `None` without a collector.
    measure: RefCell<Option<Measurer>>,
    playback_url: String,
    attempts: Cell<u32>,
    retry_timer: Cell<Option<i32>>,
    listeners: RefCell<Vec<EventListener>>,
    retry_closure: RefCell<Option<Closure<dyn FnMut()>>>,
    ticker: RefCell<Option<IntervalHandle>>,
    mute_effect: RefCell<Option<RenderEffect<bool>>>,
    mounted: RefCell<Option<Box<dyn Any>>>,
    controls: RefCell<Option<Controls>>,
    stopped: Cell<bool>,
    owner: Owner,
}

/// One mounted player.
#[wasm_bindgen]
pub struct PlayerHandle {
    inner: Rc<Inner>,
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Mounts a player into `root`, around an IVS `MediaPlayer` the page created,
/// and starts playing `playback_url` (muted autoplay).
///
/// With a `collector` (its origin), the cards are measured (see
/// [`PlayerHandle::measure`]) and their QR codes and Open buttons link
/// through it. `viewer`: the page's viewer id (random per page load, shared
/// by its players); `prefix`: this player's event-id prefix (random, so two
/// players never make the same id). `player.js` makes both; no cookie,
/// nothing stored. Without a collector, or with ids that are not valid,
/// nothing is measured.
#[wasm_bindgen]
pub fn mount(
    root: HtmlElement,
    player: ivs::MediaPlayer,
    playback_url: String,
    collector: Option<String>,
    viewer: &str,
    prefix: &str,
) -> Result<PlayerHandle, JsValue> {
    let measure = collector.and_then(|c| Measurer::new(c, viewer, prefix));
    let links = measure.as_ref().map(Measurer::links);
    let owner = Owner::new();
    let (state, mounted) = owner.with(|| {
        let state = PlayerState::new(links);
        let mounted = leptos::mount::mount_to(root.clone(), move || player_view(state));
        (state, mounted)
    });
    let video = root
        .query_selector("video")
        .ok()
        .flatten()
        .and_then(|v| v.dyn_into::<web_sys::HtmlVideoElement>().ok())
        .ok_or_else(|| JsValue::from_str("ivs-ad-player: the video element did not mount"))?;
    let controls = Controls::attach(&root, state);
    let inner = Rc::new(Inner {
        screen: Screen::new(state),
        player,
        measure: RefCell::new(measure),
        playback_url,
        attempts: Cell::new(0),
        retry_timer: Cell::new(None),
        listeners: RefCell::new(Vec::new()),
        retry_closure: RefCell::new(None),
        ticker: RefCell::new(None),
        mute_effect: RefCell::new(None),
        mounted: RefCell::new(Some(Box::new(mounted))),
        controls: RefCell::new(controls),
        stopped: Cell::new(false),
        owner,
    });
    inner.player.attach_video(&video);
    inner.player.set_autoplay(true);
    inner.player.set_muted(true);
    make_retry(&inner);
    listen(&inner);
    start_ticker(&inner);
    inner.player.load(&inner.playback_url);
    Ok(PlayerHandle { inner })
}

fn listen(inner: &Rc<Inner>) {
    let weak = Rc::downgrade(inner);
    let on_cue = EventListener::new(move |cue: JsValue| {
        let text = js_sys::Reflect::get(&cue, &JsValue::from_str("text"))
            .ok()
            .and_then(|t| t.as_string());
        if let (Some(inner), Some(text)) = (weak.upgrade(), text) {
            // A replay's cards come from its timeline, by the video's time.
            if !inner.replaying() {
                inner.screen.apply_cue(&text, now_ms());
            }
        }
    });
    let weak = Rc::downgrade(inner);
    let on_error = EventListener::new(move |error: JsValue| {
        let field = |name: &str| js_sys::Reflect::get(&error, &JsValue::from_str(name)).ok();
        let code = field("code").and_then(|c| c.as_f64()).unwrap_or(0.0) as u32;
        let kind = field("type")
            .and_then(|t| t.as_string())
            .unwrap_or_default();
        if let Some(inner) = weak.upgrade() {
            schedule_retry(&inner, &ivs::error_message(code, &kind));
        }
    });
    let weak = Rc::downgrade(inner);
    let on_playing = EventListener::new(move |_| {
        if let Some(inner) = weak.upgrade() {
            inner.attempts.set(0);
            inner.screen.state.chrome.update(|c| c.status.clear());
        }
    });
    let weak = Rc::downgrade(inner);
    let on_ended = EventListener::new(move |_| {
        // A replay that ended stays where it is, to be played or sought
        // again; a live stream that ended may start again.
        if let Some(inner) = weak.upgrade().filter(|i| !i.replaying()) {
            schedule_retry(&inner, "The stream has ended.");
        }
    });
    let p = &inner.player;
    p.add_event_listener(
        ivs::EVENT_TEXT_METADATA_CUE,
        on_cue.as_ref().unchecked_ref(),
    );
    p.add_event_listener(ivs::EVENT_ERROR, on_error.as_ref().unchecked_ref());
    p.add_event_listener(ivs::STATE_PLAYING, on_playing.as_ref().unchecked_ref());
    p.add_event_listener(ivs::STATE_ENDED, on_ended.as_ref().unchecked_ref());
    inner
        .listeners
        .borrow_mut()
        .extend([on_cue, on_error, on_playing, on_ended]);

    // Unmuting is the view's signal; the IVS player follows it. The chrome
    // also carries the clock, so the player is told only of a change.
    let weak = Rc::downgrade(inner);
    let chrome = inner.screen.state.chrome;
    let effect = inner.owner.with(|| {
        RenderEffect::new(move |was: Option<bool>| {
            let muted = chrome.with(|c| c.muted);
            if was != Some(muted) {
                if let Some(inner) = weak.upgrade() {
                    inner.player.set_muted(muted);
                }
            }
            muted
        })
    });
    *inner.mute_effect.borrow_mut() = Some(effect);
}

/// Shows `message` and loads the stream again after a backoff.
fn schedule_retry(inner: &Rc<Inner>, message: &str) {
    if inner.retry_timer.get().is_some() {
        return;
    }
    let attempt = inner.attempts.get();
    let delay = ivs::retry_delay_secs(attempt);
    inner.attempts.set(attempt + 1);
    let status = format!("{message} Retrying in {delay} s.");
    inner.screen.state.chrome.update(|c| c.status = status);
    let retry = inner.retry_closure.borrow();
    let timer = retry.as_ref().and_then(|retry| {
        web_sys::window()?
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                retry.as_ref().unchecked_ref(),
                (delay * 1000) as i32,
            )
            .ok()
    });
    inner.retry_timer.set(timer);
}

/// The one closure every retry timer calls. Made once: the load it starts
/// may fail at once and schedule the next retry from inside it, and a
/// closure replaced while it runs would be dropped mid-call.
fn make_retry(inner: &Rc<Inner>) {
    let weak = Rc::downgrade(inner);
    let retry = Closure::<dyn FnMut()>::new(move || {
        if let Some(inner) = weak.upgrade() {
            inner.retry_timer.set(None);
            inner.player.load(&inner.playback_url);
        }
    });
    *inner.retry_closure.borrow_mut() = Some(retry);
}

fn start_ticker(inner: &Rc<Inner>) {
    let weak = Rc::downgrade(inner);
    let handle = set_interval_with_handle(
        move || {
            if let Some(inner) = weak.upgrade() {
                if inner.replaying() {
                    replay::show_at(inner.screen.state, inner.player.position());
                } else {
                    inner.screen.tick(now_ms());
                }
            }
        },
        TICK,
    )
    .ok();
    *inner.ticker.borrow_mut() = handle;
}

#[wasm_bindgen]
impl PlayerHandle {
    /// Gives the player its catalog (JSON text) and the URL relative image
    /// paths resolve against. An invalid catalog is refused with every
    /// problem listed, and the player keeps the one it had.
    #[wasm_bindgen(js_name = setCatalog)]
    pub fn set_catalog(&self, json: &str, base_url: &str) -> Result<(), JsValue> {
        self.inner
            .screen
            .set_catalog(json, base_url, now_ms())
            .map_err(|e| JsValue::from_str(&format!("ivs-ad-player: catalog refused: {e}")))
    }

    /// One look at the cards for measurement; `player.js` calls it every
    /// 250 ms when there is a collector, when the page hides or the player
    /// goes (`flush`), and when the viewer opens or dismisses a card
    /// (`acted`: its product id). `flags`: 1 the video plays, 2 the tab is
    /// visible and focused, 4 flush, 8 `acted` was an open (else a
    /// dismissal). `in_view`: the ids of the cards at least half in view,
    /// space-separated. Returns the body of a batch to send now, if one is
    /// due.
    ///
    /// One entry point with flags rather than several methods: every
    /// exported method costs the wasm its own glue (measured).
    pub fn measure(&self, flags: u8, in_view: &str, acted: &str) -> Option<String> {
        let now = now_ms();
        let mut m = self.inner.measure.borrow_mut();
        let m = m.as_mut()?;
        self.inner.screen.state.cards.with_untracked(|c| {
            for s in c.overlay.shown() {
                let Some(show) = &s.show else { continue };
                if s.id == acted {
                    let kind = if flags & 8 != 0 {
                        EventKind::Open
                    } else {
                        EventKind::Dismiss
                    };
                    m.record(show, kind);
                }
                let mut rest = in_view;
                let mut seen = false;
                while let Some((one, tail)) = rest.split_once(' ') {
                    seen |= one == s.id;
                    rest = tail;
                }
                seen |= rest == s.id;
                m.observe(show, flags & 1 != 0, seen, flags & 2 != 0, now);
            }
        });
        m.end_look();
        if flags & 4 != 0 || m.due(now) {
            m.take_batch(now)
        } else {
            None
        }
    }

    /// Makes this player a replay of a recorded show: `json` is the
    /// recording's `cues.json` (see `ad_contract::timeline`). From then on
    /// its cards follow the video's time. Returns the product timeline for
    /// the scrub bar that `player.js` draws: the recording's length in
    /// milliseconds on the first line, then `<milliseconds> <title>` for
    /// each card's start whose product the catalog still has (so give the
    /// catalog first). A timeline that cannot be read is refused, naming
    /// the field.
    ///
    /// The scrub bar is drawn in JS: as a Leptos view it cost 6.6 KB of the
    /// wasm gzipped (measured), over the replay's whole 3 KB budget.
    #[wasm_bindgen(js_name = setTimeline)]
    pub fn set_timeline(&self, json: &str) -> Result<String, JsValue> {
        let timeline = ad_contract::timeline::CueTimeline::from_json(json)
            .map_err(|e| JsValue::from_str(&format!("ivs-ad-player: recording refused: {e}")))?;
        let state = self.inner.screen.state;
        if let Some(m) = self.inner.measure.borrow_mut().as_mut() {
            m.replay = true;
        }
        let mut lines = String::new();
        state.cards.update(|c| {
            c.replay = Some(replay::Replay::new(timeline));
            if let Some(links) = c.links.as_mut() {
                links.replay = true;
            }
            lines = replay::marker_lines(c);
        });
        replay::show_at(state, self.inner.player.position());
        Ok(lines)
    }

    /// Applies a cue's text, as a `TEXT_METADATA_CUE` does.
    pub fn cue(&self, text: &str) {
        self.inner.screen.apply_cue(text, now_ms());
    }

    /// How many cards show (for tests and benchmarks).
    #[wasm_bindgen(js_name = cardCount)]
    pub fn card_count(&self) -> usize {
        self.inner.screen.card_count()
    }

    /// Stops playback and removes the player from the page.
    pub fn unmount(&self) {
        self.inner.stop();
    }
}

impl Inner {
    fn replaying(&self) -> bool {
        self.screen
            .state
            .cards
            .with_untracked(|c| c.replay.is_some())
    }

    /// Stops playback and timers and removes the view; once, whichever of
    /// `unmount` and drop comes first.
    fn stop(&self) {
        if self.stopped.replace(true) {
            return;
        }
        if let Some(timer) = self.retry_timer.take() {
            if let Some(w) = web_sys::window() {
                w.clear_timeout_with_handle(timer);
            }
        }
        if let Some(t) = self.ticker.borrow_mut().take() {
            t.clear();
        }
        self.player.delete();
        self.controls.borrow_mut().take();
        self.mounted.borrow_mut().take();
        self.listeners.borrow_mut().clear();
    }
}

/// A handle the page let go of (its JS object collected) must not leave the
/// IVS player calling closures that are dropped with it.
impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A QR code of `link` as SVG text (for the benchmark; cards make their own).
#[wasm_bindgen(js_name = qrSvg)]
pub fn qr_svg_js(link: &str) -> Option<String> {
    qr::qr_svg(link)
}
