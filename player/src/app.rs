//! The player's view: the video, the product cards with QR codes, the
//! status line and the controls. Small components over a handful of signals.

use crate::measure::Links;
use crate::overlay::{seconds_left, Overlay};
use crate::qr::qr_svg;
use crate::replay::Replay;
use ad_contract::measure::LinkKind;
use ad_contract::{Catalog, Product, ShowKey};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

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
    /// With a collector, cards link through it (QR code and Open button).
    pub links: Option<Links>,
    /// A recorded show: its cue timeline, which the video's time drives.
    pub replay: Option<Replay>,
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
    /// `links`: the tracking links' maker when the cards are measured.
    pub fn new(links: Option<Links>) -> Self {
        Self {
            cards: RwSignal::new(Cards {
                links,
                ..Cards::default()
            }),
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
        Self::new(None)
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
/// Its buttons and keys are handled by [`Controls`].
///
/// A plain function rather than a `#[component]`, and no `NodeRef`s: each
/// brings generic code to the wasm, and the handle finds its `<video>` in
/// the DOM instead.
pub fn player_view(state: PlayerState) -> impl IntoView {
    let PlayerState { cards, chrome } = state;
    let shown = move || {
        cards.with(|c| {
            let Some(view) = &c.catalog else {
                return Vec::new();
            };
            c.overlay
                .shown()
                .iter()
                .filter_map(|s| {
                    let product = c.product(&s.id)?.clone();
                    // Each link with the tag of its use (the cue's `q` for
                    // the QR code, `t` for Open).
                    let tracked = |key: &Option<ShowKey>, kind| {
                        c.links
                            .as_ref()
                            .zip(key.as_ref())
                            .map(|(links, key)| links.link(key, kind))
                            .unwrap_or_else(|| product.link_url.clone())
                    };
                    // A sold-out card has no QR code and no link.
                    let links = (!s.sold_out).then(|| CardLinks {
                        qr: tracked(&s.scan, LinkKind::Scan),
                        open: tracked(&s.show, LinkKind::Click),
                    });
                    Some((view.image_url(&product), product, s.ends_at_ms, links))
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <div class="iap-root" tabindex="0">
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
                        .map(|(image, product, ends_at_ms, links)| card(product, image, ends_at_ms, links, chrome))
                        .collect::<Vec<_>>()
                }}
            </div>
            <div class="iap-controls">
                <button
                    class="iap-unmute"
                    type="button"
                    data-action="unmute"
                    hidden=move || !chrome.with(|c| c.muted)
                >
                    "Unmute"
                </button>
                <button class="iap-fullscreen" type="button" data-action="fullscreen">
                    "Full screen"
                </button>
            </div>
            <div class="iap-sr-only" aria-live="polite">{move || chrome.with(|c| c.announcement.clone())}</div>
        </div>
    }
}

/// Where a card's QR code and Open button lead: the product's link, or the
/// collector's tracking links to it when measurement is on.
pub struct CardLinks {
    pub qr: String,
    pub open: String,
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
    links: Option<CardLinks>,
    chrome: RwSignal<Chrome>,
) -> impl IntoView {
    let id = product.id.as_str().to_string();
    let title = product.title.clone();
    // The label names the product's own link, whatever the code encodes.
    let link = product.link_url.clone();
    // Sold out (no links): no QR code is made and the Open link leads
    // nowhere; the stylesheet hides both and the card says "Sold out".
    let sold_out = links.is_none();
    let (qr, open) = links
        .map(|l| (qr_svg(&l.qr).unwrap_or_default(), l.open))
        .unwrap_or_default();
    view! {
        <article class=if sold_out { "iap-card iap-sold" } else { "iap-card" } aria-label=title.clone()>
            <button
                class="iap-dismiss"
                type="button"
                aria-label=format!("Dismiss {title}")
                data-action="dismiss"
                data-id=id
            >
                "×"
            </button>
            <img class="iap-image" src=image alt=title.clone() />
            <div class="iap-text">
                <h3 class="iap-title">{title.clone()}</h3>
                <p class="iap-price">{product.price.clone()}</p>
                <p class="iap-description">{product.description.clone()}</p>
                <p class="iap-left">{move || if sold_out { "Sold out".to_string() } else { format!("{} s left", seconds_left(ends_at_ms, chrome.with(|c| c.now_ms))) }}</p>
                <a class="iap-open" href=open target="_blank" rel="noopener">"Open"</a>
            </div>
            <div class="iap-qr" role="img" aria-label=format!("QR code for {link}") inner_html=qr></div>
        </article>
    }
}

/// The player's buttons and keys, as two listeners on its root: a click on
/// a `data-action` button (dismiss, unmute, full screen) and Esc, which
/// closes the newest card.
///
/// Delegated by hand rather than with `on:` handlers in the view: each
/// `on:` instantiates Leptos's event code for its own closure. The four the
/// player needs cost 7.2 KB of its wasm gzipped, these two listeners 1.9 KB
/// (both measured). The listeners are removed when this is dropped.
pub struct Controls {
    root: web_sys::Element,
    click: Closure<dyn FnMut(web_sys::Event)>,
    keydown: Closure<dyn FnMut(web_sys::Event)>,
}

impl Controls {
    /// Listens on the `.iap-root` that [`player_view`] mounted in `host`;
    /// `None` when there is none.
    pub fn attach(host: &web_sys::Element, state: PlayerState) -> Option<Self> {
        let root = host.query_selector(".iap-root").ok().flatten()?;
        let PlayerState { cards, chrome } = state;
        let click = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            let button = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .and_then(|t| t.closest("[data-action]").ok().flatten());
            let Some(button) = button else { return };
            match button.get_attribute("data-action").as_deref() {
                Some("dismiss") => {
                    if let Some(id) = button.get_attribute("data-id") {
                        cards.update(|c| c.overlay.dismiss(&id));
                    }
                }
                Some("unmute") => chrome.update(|c| c.muted = false),
                Some("fullscreen") => {
                    // The player's own container, so the cards stay visible.
                    if let Ok(Some(root)) = button.closest(".iap-root") {
                        let _ = root.request_fullscreen();
                    }
                }
                _ => {}
            }
        });
        let keydown = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            let escape = ev
                .dyn_ref::<web_sys::KeyboardEvent>()
                .is_some_and(|k| k.key() == "Escape");
            if escape {
                let newest =
                    cards.with_untracked(|c| c.overlay.shown().last().map(|s| s.id.clone()));
                if let Some(id) = newest {
                    cards.update(|c| c.overlay.dismiss(&id));
                }
            }
        });
        root.add_event_listener_with_callback("click", click.as_ref().unchecked_ref())
            .ok()?;
        root.add_event_listener_with_callback("keydown", keydown.as_ref().unchecked_ref())
            .ok()?;
        Some(Self {
            root,
            click,
            keydown,
        })
    }
}

impl Drop for Controls {
    fn drop(&mut self) {
        let _ = self
            .root
            .remove_event_listener_with_callback("click", self.click.as_ref().unchecked_ref());
        let _ = self
            .root
            .remove_event_listener_with_callback("keydown", self.keydown.as_ref().unchecked_ref());
    }
}
