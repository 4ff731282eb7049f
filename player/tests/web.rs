//! The player's view in a real browser (headless Chromium through
//! chromedriver; `player/test-wasm.sh` runs this): cues in, DOM out. The IVS
//! player is not involved; the Playwright tests in `tests/browser` cover it.
#![cfg(target_arch = "wasm32")]

use ivs_ad_player::app::{player_view, Controls, PlayerState};
use ivs_ad_player::screen::Screen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

const CATALOG: &str = r#"{"products": [
  {"id": "kestrel", "labels": ["kestrel"], "title": "Kestrel Trail Runner",
   "description": "Grippy <script>window.pwned = 1</script> soles.", "price": "$129.00",
   "image_url": "img/kestrel.png", "link_url": "https://shop.example/kestrel",
   "min_confidence": 70, "display_seconds": 20, "cooldown_seconds": 60},
  {"id": "lumen", "labels": ["lumen"], "title": "Lumen Desk Lamp",
   "description": "Warm light.", "price": "$59.00",
   "image_url": "https://cdn.example/lumen.png", "link_url": "https://shop.example/lumen",
   "min_confidence": 70, "display_seconds": 20, "cooldown_seconds": 60}
]}"#;

/// A player view mounted into a fresh element of the test page.
struct Mounted {
    screen: Screen,
    root: HtmlElement,
    _handle: Box<dyn std::any::Any>,
    _controls: Option<Controls>,
}

/// A player view with no catalog yet.
fn mount_bare_view() -> Mounted {
    let document = web_sys::window().unwrap().document().unwrap();
    let root: HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&root).unwrap();
    let state = PlayerState::new(None);
    let handle = leptos::mount::mount_to(root.clone(), move || player_view(state));
    let controls = Controls::attach(&root, state);
    assert!(controls.is_some(), "the view has an .iap-root to listen on");
    Mounted {
        screen: Screen::new(state),
        root,
        _handle: Box::new(handle),
        _controls: controls,
    }
}

/// A player view with the test catalog, as if fetched from /catalog/.
fn mount_view() -> Mounted {
    let m = mount_bare_view();
    m.screen
        .set_catalog(CATALOG, "https://site.example/catalog/", 0.0)
        .unwrap();
    m
}

/// Lets Leptos run the effects a signal change scheduled.
async fn settle() {
    for _ in 0..2 {
        let tick = js_sys::Promise::new(&mut |resolve, _| {
            web_sys::window()
                .unwrap()
                .set_timeout_with_callback(&resolve)
                .unwrap();
        });
        wasm_bindgen_futures::JsFuture::from(tick).await.unwrap();
    }
}

fn all(root: &Element, selector: &str) -> Vec<Element> {
    let list = root.query_selector_all(selector).unwrap();
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into().ok())
        .collect()
}

fn text(root: &Element, selector: &str) -> String {
    root.query_selector(selector)
        .unwrap()
        .and_then(|e| e.text_content())
        .unwrap_or_default()
}

/// The text of every element `selector` matches, in document order.
fn texts(root: &Element, selector: &str) -> Vec<String> {
    all(root, selector)
        .iter()
        .filter_map(|e| e.text_content())
        .collect()
}

fn titles(root: &Element) -> Vec<String> {
    texts(root, ".iap-card .iap-title")
}

#[wasm_bindgen_test]
async fn cues_set_the_cards_level_triggered() {
    let m = mount_view();
    m.screen.apply_cue(
        r#"{"v":1,"show":[{"id":"lumen","left":10},{"id":"kestrel","left":5}]}"#,
        1000.0,
    );
    settle().await;
    assert_eq!(titles(&m.root), ["Lumen Desk Lamp", "Kestrel Trail Runner"]);
    assert_eq!(
        text(&m.root, "[aria-live=polite]"),
        "Now showing: Kestrel Trail Runner, $129.00"
    );

    // Malformed, unknown-version and unknown-product cues change nothing
    // and warn once each.
    for bad in [
        "not json",
        r#"{"v":2,"show":[]}"#,
        r#"{"v":1,"show":[{"id":"ghost","left":5},{"id":"lumen","left":9},{"id":"kestrel","left":4}]}"#,
        "not json",
    ] {
        m.screen.apply_cue(bad, 2000.0);
    }
    settle().await;
    assert_eq!(titles(&m.root), ["Lumen Desk Lamp", "Kestrel Trail Runner"]);
    let warnings = m.screen.warnings();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].contains("not JSON"), "{warnings:?}");
    assert!(warnings[1].contains("version 2"), "{warnings:?}");
    assert!(warnings[2].contains("\"ghost\""), "{warnings:?}");

    // The next cue is the whole set: kestrel alone.
    m.screen
        .apply_cue(r#"{"v":1,"show":[{"id":"kestrel","left":5}]}"#, 3000.0);
    settle().await;
    assert_eq!(titles(&m.root), ["Kestrel Trail Runner"]);
    m.screen.apply_cue(r#"{"v":1,"show":[]}"#, 3500.0);
    settle().await;
    assert!(titles(&m.root).is_empty());
    m.root.remove();
}

#[wasm_bindgen_test]
async fn a_cue_before_the_catalog_shows_once_the_catalog_arrives() {
    let document = web_sys::window().unwrap().document().unwrap();
    let root: HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&root).unwrap();
    let state = PlayerState::new(None);
    let _handle = leptos::mount::mount_to(root.clone(), move || player_view(state));
    let screen = Screen::new(state);
    screen.apply_cue(r#"{"v":1,"show":[{"id":"lumen","left":10}]}"#, 0.0);
    settle().await;
    assert!(titles(&root).is_empty());
    assert!(screen.set_catalog("{\"products\": 3}", "", 0.0).is_err());
    screen
        .set_catalog(CATALOG, "https://site.example/", 0.0)
        .unwrap();
    settle().await;
    assert_eq!(titles(&root), ["Lumen Desk Lamp"]);
    root.remove();
}

#[wasm_bindgen_test]
async fn cues_delivered_out_of_order_never_go_back_in_time() {
    // Two writers saved versions 7 and 8; IVS delivers 8, then 7.
    let v7 = r#"{"v":1,"seq":7,"show":[]}"#;
    let v8 = r#"{"v":1,"seq":8,"show":[{"id":"lumen","left":10}]}"#;
    let m = mount_view();
    m.screen.apply_cue(v8, 0.0);
    m.screen.apply_cue(v7, 50.0);
    settle().await;
    assert_eq!(
        titles(&m.root),
        ["Lumen Desk Lamp"],
        "the older clear is dropped"
    );
    assert!(
        m.screen.warnings().is_empty(),
        "reordering is normal, not a warning"
    );
    m.root.remove();

    // The same before the catalog: the pending cue is the newest, not the last.
    let document = web_sys::window().unwrap().document().unwrap();
    let root: HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&root).unwrap();
    let state = PlayerState::new(None);
    let _handle = leptos::mount::mount_to(root.clone(), move || player_view(state));
    let screen = Screen::new(state);
    screen.apply_cue(v8, 0.0);
    screen.apply_cue(v7, 50.0);
    screen
        .set_catalog(CATALOG, "https://site.example/", 100.0)
        .unwrap();
    settle().await;
    assert_eq!(titles(&root), ["Lumen Desk Lamp"]);
    root.remove();
}

#[wasm_bindgen_test]
async fn each_card_counts_down_from_its_cue_and_leaves_on_time() {
    let m = mount_view();
    m.screen.apply_cue(
        r#"{"v":1,"show":[{"id":"kestrel","left":3},{"id":"lumen","left":8}]}"#,
        10_000.0,
    );
    settle().await;
    let lefts = |root: &Element| texts(root, ".iap-left");
    assert_eq!(lefts(&m.root), ["3 s left", "8 s left"]);
    m.screen.tick(11_500.0);
    settle().await;
    assert_eq!(lefts(&m.root), ["2 s left", "7 s left"]);
    m.screen.tick(12_999.0);
    settle().await;
    assert_eq!(titles(&m.root).len(), 2, "kestrel still has 1 ms");
    m.screen.tick(13_000.0);
    settle().await;
    assert_eq!(titles(&m.root), ["Lumen Desk Lamp"]);
    assert_eq!(m.screen.card_count(), 1);
    m.screen.tick(18_000.0);
    settle().await;
    assert!(titles(&m.root).is_empty());
    m.root.remove();
}

#[wasm_bindgen_test]
async fn a_card_shows_the_product_as_text_with_a_qr_code_and_closes() {
    let m = mount_view();
    m.screen
        .apply_cue(r#"{"v":1,"show":[{"id":"kestrel","left":20}]}"#, 0.0);
    settle().await;
    let card = m.root.query_selector(".iap-card").unwrap().unwrap();
    assert_eq!(text(&card, ".iap-price"), "$129.00");
    // Catalog text is text: the <script> is shown, never parsed or run.
    assert_eq!(
        text(&card, ".iap-description"),
        "Grippy <script>window.pwned = 1</script> soles."
    );
    assert!(all(&card, "script").is_empty());
    let pwned = js_sys::Reflect::get(&web_sys::window().unwrap(), &JsValue::from_str("pwned"));
    assert!(pwned.unwrap().is_undefined());

    let image = card.query_selector(".iap-image").unwrap().unwrap();
    assert_eq!(
        image.get_attribute("src").as_deref(),
        Some("https://site.example/catalog/img/kestrel.png"),
        "relative image paths resolve against the catalog's URL"
    );
    assert_eq!(
        image.get_attribute("alt").as_deref(),
        Some("Kestrel Trail Runner")
    );

    let open = card.query_selector(".iap-open").unwrap().unwrap();
    assert_eq!(
        open.get_attribute("href").as_deref(),
        Some("https://shop.example/kestrel")
    );
    assert_eq!(open.get_attribute("target").as_deref(), Some("_blank"));
    assert_eq!(open.get_attribute("rel").as_deref(), Some("noopener"));

    let qr = card.query_selector(".iap-qr svg").unwrap().unwrap();
    assert!(qr.get_attribute("viewBox").is_some());
    assert!(card.query_selector(".iap-qr path").unwrap().is_some());
    let qr_box = card
        .query_selector(".iap-qr")
        .unwrap()
        .unwrap()
        .get_attribute("aria-label");
    assert_eq!(
        qr_box.as_deref(),
        Some("QR code for https://shop.example/kestrel")
    );

    let dismiss: HtmlElement = card
        .query_selector(".iap-dismiss")
        .unwrap()
        .unwrap()
        .unchecked_into();
    assert_eq!(
        dismiss.get_attribute("aria-label").as_deref(),
        Some("Dismiss Kestrel Trail Runner")
    );
    dismiss.click();
    settle().await;
    assert!(titles(&m.root).is_empty());
    // A re-published cue listing it keeps it closed.
    m.screen
        .apply_cue(r#"{"v":1,"show":[{"id":"kestrel","left":15}]}"#, 5000.0);
    settle().await;
    assert!(titles(&m.root).is_empty());
    m.root.remove();
}

/// Cues are re-published every few seconds (late joiners): one listing the
/// same products must not rebuild their cards, or the image would reload,
/// the card flash, and a viewer tabbing to its link lose their place.
#[wasm_bindgen_test]
async fn a_republished_cue_keeps_the_cards_and_the_focus() {
    let m = mount_view();
    m.screen.apply_cue(
        r#"{"v":1,"show":[{"id":"kestrel","left":20},{"id":"lumen","left":20}]}"#,
        0.0,
    );
    settle().await;
    let cards = all(&m.root, ".iap-card");
    assert_eq!(cards.len(), 2);
    let open: HtmlElement = cards[1]
        .query_selector(".iap-open")
        .unwrap()
        .unwrap()
        .unchecked_into();
    open.focus().unwrap();
    m.screen.apply_cue(
        r#"{"v":1,"show":[{"id":"kestrel","left":15},{"id":"lumen","left":12}]}"#,
        5000.0,
    );
    settle().await;
    let again = all(&m.root, ".iap-card");
    assert_eq!(again.len(), 2);
    for (before, after) in cards.iter().zip(&again) {
        assert!(before.is_same_node(Some(after)), "the card was rebuilt");
    }
    assert_eq!(texts(&m.root, ".iap-left"), ["15 s left", "12 s left"]);
    let focused = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .active_element();
    assert!(
        focused.is_some_and(|f| open.is_same_node(Some(&f))),
        "the focused Open link kept its focus"
    );
    m.root.remove();
}
