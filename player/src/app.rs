//! The player's view: the video, the product cards with QR codes, the
//! status line and the controls. Small components over a handful of signals.

use crate::overlay::{seconds_left, Overlay};
use crate::qr::qr_svg;
use ad_contract::{Catalog, Product};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use std::sync::Arc;

/// The signals one player's view reads; the [`crate::PlayerHandle`] writes
/// them from IVS events.
#[derive(Clone, Copy)]
pub struct PlayerState {
    pub catalog: RwSignal<Option<Arc<CatalogView>>>,
    pub overlay: RwSignal<Overlay>,
    /// `performance.now()`, ticked while cards count down.
    pub now_ms: RwSignal<f64>,
    /// A message over the video (offline, too many viewers); empty for none.
    /// (A String like `announcement`: each signal type adds wasm size.)
    pub status: RwSignal<String>,
    pub muted: RwSignal<bool>,
    /// The polite live region's text: the newest card, announced.
    pub announcement: RwSignal<String>,
}

impl PlayerState {
    pub fn new() -> Self {
        Self {
            catalog: RwSignal::new(None),
            overlay: RwSignal::new(Overlay::default()),
            now_ms: RwSignal::new(0.0),
            status: RwSignal::new(String::new()),
            muted: RwSignal::new(true),
            announcement: RwSignal::new(String::new()),
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
    let PlayerState {
        catalog,
        overlay,
        now_ms,
        status,
        muted,
        announcement,
    } = state;
    let dismiss = move |id: String| overlay.update(|o| o.dismiss(&id));
    let cards = move || {
        let Some(view) = catalog.get() else {
            return Vec::new();
        };
        overlay.with(|o| {
            o.shown()
                .iter()
                .filter_map(|s| {
                    let product = view.catalog.get_str(&s.id)?.clone();
                    Some((product, view.image_url_for(&s.id), s.ends_at_ms))
                })
                .collect::<Vec<_>>()
        })
    };
    let close_newest = move || {
        let newest = overlay.with(|o| o.shown().last().map(|s| s.id.clone()));
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
            <div class="iap-status" role="status" hidden=move || status.with(String::is_empty)>
                {move || status.get()}
            </div>
            <div class="iap-cards">
                {move || {
                    cards()
                        .into_iter()
                        .map(|(product, image, ends_at_ms)| card(product, image, ends_at_ms, now_ms, dismiss))
                        .collect::<Vec<_>>()
                }}
            </div>
            <div class="iap-controls">
                <button
                    class="iap-unmute"
                    type="button"
                    hidden=move || !muted.get()
                    on:click=move |_| muted.set(false)
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
            <div class="iap-sr-only" aria-live="polite">{move || announcement.get()}</div>
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
    now_ms: RwSignal<f64>,
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
                <p class="iap-left">{move || format!("{} s left", seconds_left(ends_at_ms, now_ms.get()))}</p>
                <a class="iap-open" href=link.clone() target="_blank" rel="noopener">"Open"</a>
            </div>
            <div class="iap-qr" role="img" aria-label=format!("QR code for {link}") inner_html=qr></div>
        </article>
    }
}
