//! The player's view: the video, the product cards with QR codes, the
//! status line and the controls. Small components over a handful of signals.

use crate::overlay::{seconds_left, Overlay};
use crate::qr::qr_svg;
use ad_contract::{Catalog, Product};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The signals one player's view reads; the [`crate::PlayerHandle`] writes
/// them from IVS events.
///
/// Two signals, grouped by what changes together: every signal type adds
/// its own copy of Leptos's signal code to the wasm (~1.3 KB gzipped each,
/// measured), and the player's size is a feature.
#[derive(Clone, Copy)]
pub struct PlayerState {
    /// The catalog and the cards on screen.
    pub cards: RwSignal<Cards>,
    /// The clock, the status line, mute and the live region.
    pub chrome: RwSignal<Chrome>,
}

/// The catalog (once given) and which of its products show.
#[derive(Default)]
pub struct Cards {
    pub catalog: Option<CatalogView>,
    pub overlay: Overlay,
}

/// What surrounds the cards. The clock ticks here too: the text bound to
/// the other fields is compared before the DOM is touched, so a tick
/// rewrites nothing but the countdowns.
pub struct Chrome {
    /// `performance.now()`, ticked while cards count down.
    pub now_ms: f64,
    /// A message over the video (offline, too many viewers); empty for none.
    pub status: String,
    pub muted: bool,
    /// The polite live region's text: the newest card, announced.
    pub announcement: String,
}

impl PlayerState {
    pub fn new() -> Self {
        Self {
            cards: RwSignal::new(Cards::default()),
            chrome: RwSignal::new(Chrome {
                now_ms: 0.0,
                status: String::new(),
                muted: true,
                announcement: String::new(),
            }),
        }
    }
}

impl Default for PlayerState {
    fn default() -> Self {
        Self::new()
    }
}

/// A catalog with its image URLs resolved against the catalog's own URL.
pub struct CatalogView {
    pub catalog: Catalog,
    pub base_url: String,
}

impl CatalogView {
    pub fn image_url(&self, product: &Product) -> String {
        web_sys::Url::new_with_base(&product.image_url, &self.base_url)
            .map(|u| u.href())
            .unwrap_or_else(|_| product.image_url.clone())
    }
}

/// The whole player. Unmuting only sets `muted`; the handle applies it to
/// the IVS player, which the view does not own and finds as the `<video>`.
///
/// A plain function rather than a `#[component]`, and no `NodeRef`s: each
/// brings generic code to the wasm, and the handle and the full-screen button
/// find their elements in the DOM instead.
pub fn player_view(state: PlayerState) -> impl IntoView {
    let PlayerState { cards, chrome } = state;
    let dismiss = move |id: String| cards.update(|c| c.overlay.dismiss(&id));
    let shown = move || {
        cards.with(|c| {
            let Some(view) = &c.catalog else {
                return Vec::new();
            };
            c.overlay
                .shown()
                .iter()
                .filter_map(|s| {
                    let product = view.catalog.get_str(&s.id)?.clone();
                    Some((product, view.image_url_for(&s.id), s.ends_at_ms))
                })
                .collect::<Vec<_>>()
        })
    };
    let close_newest = move || {
        let newest = cards.with(|c| c.overlay.shown().last().map(|s| s.id.clone()));
        if let Some(id) = newest {
            dismiss(id);
        }
    };
    view! {
        <div
            class="iap-root"
            tabindex="0"
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                if ev.key() == "Escape" {
                    close_newest();
                }
            }
        >
            <video class="iap-video" playsinline=true muted=true></video>
            // Always in the page (hidden when empty): a status region that
            // exists before its text changes is announced reliably, and
            // `hidden` is cheaper than a <Show>'s memo.
            <div class="iap-status" role="status" hidden=move || chrome.with(|c| c.status.is_empty())>
                {move || chrome.with(|c| c.status.clone())}
            </div>
            <div class="iap-cards">
                {move || {
                    shown()
                        .into_iter()
                        .map(|(product, image, ends_at_ms)| card(product, image, ends_at_ms, chrome, dismiss))
                        .collect::<Vec<_>>()
                }}
            </div>
            <div class="iap-controls">
                <button
                    class="iap-unmute"
                    type="button"
                    hidden=move || !chrome.with(|c| c.muted)
                    on:click=move |_| chrome.update(|c| c.muted = false)
                >
                    "Unmute"
                </button>
                <button class="iap-fullscreen" type="button" on:click=move |ev: web_sys::MouseEvent| {
                    // The player's own container, so the cards stay visible.
                    let root = ev
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                        .and_then(|button| button.closest(".iap-root").ok().flatten());
                    if let Some(root) = root {
                        let _ = root.request_fullscreen();
                    }
                }>
                    "Full screen"
                </button>
            </div>
            <div class="iap-sr-only" aria-live="polite">{move || chrome.with(|c| c.announcement.clone())}</div>
        </div>
    }
}

impl CatalogView {
    fn image_url_for(&self, id: &str) -> String {
        self.catalog
            .get_str(id)
            .map(|p| self.image_url(p))
            .unwrap_or_default()
    }
}

/// One product card. Every catalog string is rendered as text, never HTML;
/// the only markup inserted is the QR code's SVG, which we generate.
///
/// A plain function rather than a `#[component]`: the props builder a
/// component brings costs wasm size and buys nothing for a private view.
fn card(
    product: Product,
    image: String,
    ends_at_ms: f64,
    chrome: RwSignal<Chrome>,
    on_dismiss: impl Fn(String) + Copy + 'static,
) -> impl IntoView {
    let id = product.id.as_str().to_string();
    let title = product.title.clone();
    let link = product.link_url.clone();
    let qr = qr_svg(&link).unwrap_or_default();
    view! {
        <article class="iap-card" aria-label=title.clone()>
            <button
                class="iap-dismiss"
                type="button"
                aria-label=format!("Dismiss {title}")
                on:click=move |_| on_dismiss(id.clone())
            >
                "×"
            </button>
            <img class="iap-image" src=image alt=title.clone() />
            <div class="iap-text">
                <h3 class="iap-title">{title.clone()}</h3>
                <p class="iap-price">{product.price.clone()}</p>
                <p class="iap-description">{product.description.clone()}</p>
                <p class="iap-left">{move || format!("{} s left", seconds_left(ends_at_ms, chrome.with(|c| c.now_ms)))}</p>
                <a class="iap-open" href=link.clone() target="_blank" rel="noopener">"Open"</a>
            </div>
            <div class="iap-qr" role="img" aria-label=format!("QR code for {link}") inner_html=qr></div>
        </article>
    }
}
