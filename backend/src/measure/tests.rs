use super::*;
use ad_contract::measure::{EventKind, ViewerEvent};

fn catalog() -> Catalog {
    Catalog::from_json(
        r#"{"products":[{"id":"cap","labels":["cap"],"title":"Cap","price":"$1","description":"d","image_url":"https://x.test/c.png","link_url":"https://shop.test/cap","min_confidence":50,"display_seconds":20,"cooldown_seconds":60}]}"#,
    )
    .unwrap()
}

fn signer() -> ShowSigner {
    ShowSigner::new(&[7; 32]).unwrap()
}

fn show(tag_from: &ShowSigner) -> ShowRef {
    let channel = ChannelId::parse("chan1").unwrap();
    let product = ProductId::parse("cap").unwrap();
    let tag = tag_from.tag(&channel, &product, ShowId(42));
    ShowRef {
        channel,
        product,
        show: ShowId(42),
        tag,
    }
}

fn scan_link(tag_from: &ShowSigner) -> TrackingLink {
    let s = show(tag_from);
    tag_from.link(LinkKind::Scan, &s.channel, &s.product, s.show)
}

fn batch(viewer: &str, events: Vec<(String, EventKind, ShowRef)>) -> String {
    EventBatch {
        replay: false,
        viewer: OpaqueId::parse(viewer).unwrap(),
        events: events
            .into_iter()
            .map(|(id, kind, show)| ViewerEvent {
                id: OpaqueId::parse(&id).unwrap(),
                kind,
                show,
            })
            .collect(),
    }
    .to_json()
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";

#[test]
fn a_shows_events_count_for_30_days_and_never_before_it_starts() {
    let c = Collector::new(catalog(), signer());
    let s = signer();
    let event = |show: ShowRef| batch("v1", vec![("e1".to_string(), EventKind::Impression, show)]);
    // Show 42 (ms) started at 0: counts until 30 days later.
    let on_time = c
        .accept_batch(
            &event(show(&s)),
            "198.51.100.7",
            BROWSER,
            SHOW_COUNTS_FOR_SECONDS,
        )
        .unwrap();
    assert_eq!(on_time.events.len(), 1);
    let late = c
        .accept_batch(
            &event(show(&s)),
            "198.51.100.7",
            BROWSER,
            SHOW_COUNTS_FOR_SECONDS + 1,
        )
        .unwrap();
    assert!(late.events.is_empty());
    assert!(
        late.refused[0]
            .error
            .contains("events[0].show: show 42 started more than 30 days ago"),
        "{:?}",
        late.refused
    );
    // A tagged show that starts two days after now was not started by
    // the backend's clock.
    let channel = ChannelId::parse("chan1").unwrap();
    let product = ProductId::parse("cap").unwrap();
    let future = ShowId(3 * 86_400 * 1000);
    let ahead = ShowRef {
        tag: s.tag(&channel, &product, future),
        channel,
        product,
        show: future,
    };
    let refused = c
        .accept_batch(&event(ahead), "198.51.100.7", BROWSER, 86_400)
        .unwrap();
    assert!(
        refused.refused[0]
            .error
            .contains("starts more than a day from now"),
        "{refused:?}"
    );
}

#[test]
fn tags_bind_channel_product_and_show_to_the_key() {
    let s = signer();
    let good = show(&s);
    assert!(s.verify(&good, TagUse::Player));
    assert!(!s.verify(&good, TagUse::Scan), "a tag is bound to its use");
    let other_key = ShowSigner::new(&[8; 32]).unwrap();
    assert!(!other_key.verify(&good, TagUse::Player));
    for changed in [
        ShowRef {
            show: ShowId(43),
            ..good.clone()
        },
        ShowRef {
            channel: ChannelId::parse("chan2").unwrap(),
            ..good.clone()
        },
        ShowRef {
            product: ProductId::parse("mug").unwrap(),
            ..good.clone()
        },
    ] {
        assert!(!s.verify(&changed, TagUse::Player), "{changed:?}");
    }
    assert_eq!(ShowSigner::new(&[1; 8]).unwrap_err(), KeyError::TooShort(8));
    assert!(ShowSigner::from_hex("zz".repeat(16).as_str()).is_err());
    assert!(ShowSigner::from_hex(&"07".repeat(32))
        .unwrap()
        .verify(&good, TagUse::Player));
}

#[test]
fn stamping_a_cue_tags_every_show() {
    let mut cue = Cue::decode(r#"{"v":1,"seq":50,"show":[{"id":"cap","left":4,"s":42}]}"#).unwrap();
    let channel = ChannelId::parse("chan1").unwrap();
    signer().stamp(&mut cue, &channel);
    assert_eq!(cue.channel, Some(channel));
    assert_eq!(cue.show[0].tag, Some(show(&signer()).tag));
    assert_eq!(
        cue.show[0].scan_tag.as_ref(),
        Some(&scan_link(&signer()).show.tag)
    );
    assert!(cue.encode().is_ok());
}

#[test]
fn good_events_of_a_mixed_batch_count_and_the_bad_one_is_named() {
    let c = Collector::new(catalog(), signer());
    let good = show(&signer());
    let forged = ShowRef {
        tag: ShowTag::parse("AAAAAAAA").unwrap(),
        ..good.clone()
    };
    let removed = ShowRef {
        product: ProductId::parse("mug").unwrap(),
        ..good.clone()
    };
    // 49 good events and one for a product no longer in the catalog.
    let mut events: Vec<(String, EventKind, ShowRef)> = (0..49)
        .map(|i| (format!("e{i}"), EventKind::Impression, good.clone()))
        .collect();
    events.insert(17, ("gone".into(), EventKind::Impression, removed.clone()));
    let accepted = c
        .accept_batch(&batch("v1", events), "198.51.100.7", BROWSER, 1000)
        .unwrap();
    assert_eq!(accepted.events.len(), 49);
    assert!(accepted
        .events
        .iter()
        .all(|e| !e.robot && e.measure == Measure::Impression));
    assert_eq!(accepted.refused.len(), 1);
    let refused = &accepted.refused[0];
    assert_eq!((refused.index, refused.id.as_deref()), (17, Some("gone")));
    assert!(
        refused.error.contains("events[17].product")
            && refused.error.contains("not in the catalog"),
        "{}",
        refused.error
    );

    // The answer: each event's outcome in batch order, 200.
    let mut summary = RecordSummary::default();
    for i in 0..49 {
        summary.add(if i == 0 {
            Outcome::Duplicate
        } else {
            Outcome::Counted
        });
    }
    let (status, body) = batch_answer(&accepted, &summary);
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["counted"].as_u64(),
            body["duplicates"].as_u64(),
            body["refused"].as_u64()
        ),
        (Some(48), Some(1), Some(1))
    );
    let answered = body["events"].as_array().unwrap();
    assert_eq!(answered.len(), 50);
    assert_eq!(
        (answered[0]["id"].as_str(), answered[0]["status"].as_str()),
        (Some("e0"), Some("duplicate"))
    );
    assert_eq!(
        (answered[17]["id"].as_str(), answered[17]["status"].as_str()),
        (Some("gone"), Some("refused"))
    );
    assert_eq!(
        (answered[18]["id"].as_str(), answered[18]["status"].as_str()),
        (Some("e17"), Some("counted"))
    );

    // A forged tag and a malformed event are refused alike; when nothing
    // of a batch can be taken, the answer is 400 with the first reason.
    let text = batch("v1", vec![("e9".into(), EventKind::Viewable, forged)]);
    let text = text.replace("]}", r#",{"id":"e10","type":"click","show":"x"}]}"#);
    let none = c
        .accept_batch(&text, "198.51.100.7", BROWSER, 1000)
        .unwrap();
    assert!(none.events.is_empty());
    assert!(
        none.refused[0].error.contains("events[0].tag"),
        "{:?}",
        none.refused
    );
    assert!(
        none.refused[1].error.contains("events[1].type"),
        "{:?}",
        none.refused
    );
    let (status, body) = batch_answer(&none, &RecordSummary::default());
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("events[0].tag"),
        "{body}"
    );

    // A bad frame still refuses the whole batch.
    assert!(matches!(
        c.accept_batch("{", "198.51.100.7", BROWSER, 1000),
        Err(Rejection::Malformed(_))
    ));
}

#[test]
fn each_viewer_has_a_bounded_rate_and_memory_is_bounded() {
    let c = Collector::new(catalog(), signer());
    let good = show(&signer());
    let events = |n: usize, from: usize| -> Vec<(String, EventKind, ShowRef)> {
        (from..from + n)
            .map(|i| (format!("e{i}"), EventKind::Dismiss, good.clone()))
            .collect()
    };
    let mut sent = 0;
    while sent + 50 <= EVENTS_PER_VIEWER_MINUTE as usize {
        c.accept_batch(
            &batch("busy", events(50, sent)),
            "198.51.100.7",
            BROWSER,
            60,
        )
        .unwrap();
        sent += 50;
    }
    let err = c
        .accept_batch(
            &batch("busy", events(50, sent)),
            "198.51.100.7",
            BROWSER,
            119,
        )
        .unwrap_err();
    assert_eq!(err.status(), 429);
    // Another viewer, and the next minute, are not held back.
    c.accept_batch(&batch("calm", events(1, 0)), "198.51.100.7", BROWSER, 119)
        .unwrap();
    c.accept_batch(
        &batch("busy", events(50, sent)),
        "198.51.100.7",
        BROWSER,
        120,
    )
    .unwrap();

    // One address making up a viewer id per beacon: its own budget
    // runs out, another address's does not.
    let c = Collector::new(catalog(), signer());
    let taken = (0..1000)
        .filter(|i| {
            c.accept_batch(
                &batch(&format!("made-up{i}"), events(1, 0)),
                "203.0.113.66",
                BROWSER,
                600,
            )
            .is_ok()
        })
        .count();
    assert_eq!(taken, EVENTS_PER_CLIENT_MINUTE as usize);
    assert_eq!(
        c.accept_batch(&batch("x", events(1, 0)), "203.0.113.66", BROWSER, 601)
            .unwrap_err()
            .status(),
        429
    );
    c.accept_batch(&batch("x", events(1, 0)), "203.0.113.67", BROWSER, 601)
        .unwrap();

    let mut limiter = RateLimiter::new(1, 3);
    for v in ["a", "b", "c", "d"] {
        assert!(limiter.admit(v, 1, 0));
    }
    assert_eq!(limiter.windows.len(), 3, "the oldest viewer is forgotten");
}

#[test]
fn robots_are_recorded_but_flagged() {
    for ua in [
        "",
        "curl/8.5.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "facebookexternalhit/1.1",
        "python-requests/2.32",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "WhatsApp/2.23.20.0 A",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0 Safari/537.36",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    ] {
        assert!(is_robot(ua), "{ua}");
    }
    assert!(!is_robot(BROWSER));
    // A Cubot phone is a phone: "bot" inside a word is not a robot.
    assert!(!is_robot(
        "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
    ));
    assert!(!is_robot(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    ));
}

#[test]
fn only_a_get_that_is_no_prefetch_follows_a_link() {
    assert!(link_fetch_counts("GET", None));
    assert!(link_fetch_counts("get", Some("")));
    assert!(!link_fetch_counts("HEAD", None));
    assert!(!link_fetch_counts("POST", None));
    for purpose in ["prefetch", "prefetch;prerender", "Prefetch", "preview"] {
        assert!(!link_fetch_counts("GET", Some(purpose)), "{purpose}");
    }
}

#[test]
fn a_link_counts_once_per_client_and_window_whatever_the_viewer_id() {
    let c = Collector::new(catalog(), signer());
    let token = scan_link(&signer()).token();
    let key = |v: &str, client: &str, at: UnixSeconds| {
        c.follow_link(&token, Some(v), client, BROWSER, at)
            .and_then(|f| f.recorded)
            .unwrap()
            .dedupe_key()
    };
    let first = key("v1", "198.51.100.7", 1200);
    // `?v=$i` in a loop, within the window: one key, so one count.
    for (i, at) in [(2, 1200), (3, 1500), (4, 1799)] {
        assert_eq!(key(&format!("v{i}"), "198.51.100.7", at), first);
    }
    // The next window, or another client, counts again.
    assert_ne!(key("v1", "198.51.100.7", 1800), first);
    assert_ne!(key("v1", "198.51.100.8", 1200), first);
    // A player's events still dedupe within their viewer.
    let event = |viewer: &str| Recorded {
        event_id: "e1".into(),
        viewer: viewer.into(),
        measure: Measure::Impression,
        channel: "c".into(),
        product: "p".into(),
        show: 1,
        at: 0,
        robot: false,
        no_impression: false,
        replay: false,
    };
    assert_ne!(event("a").dedupe_key(), event("b").dedupe_key());
}

#[test]
fn links_redirect_only_to_the_catalog_and_dedupe_per_client_window() {
    let c = Collector::new(catalog(), signer());
    let link = scan_link(&signer());
    let token = link.token();
    let follow = |at: UnixSeconds| c.follow_link(&token, None, "127.0.0.1", BROWSER, at);
    let first = follow(500).unwrap();
    assert_eq!(first.location, "https://shop.test/cap");
    let rec = first.recorded.unwrap();
    assert_eq!(rec.measure, Measure::Scan);
    let again = follow(500).and_then(|f| f.recorded).unwrap();
    assert_eq!(rec.event_id, again.event_id, "same client, same window");
    let later = follow(500 + LINK_WINDOW_SECONDS)
        .and_then(|f| f.recorded)
        .unwrap();
    // A month after the show, the link still redirects and counts nothing.
    let expired = follow(SHOW_COUNTS_FOR_SECONDS + 1000).unwrap();
    assert_eq!(
        (expired.location.as_str(), expired.recorded),
        ("https://shop.test/cap", None)
    );
    assert_ne!(rec.event_id, later.event_id);
    let other = c
        .follow_link(&token, None, "127.0.0.2", BROWSER, 500)
        .and_then(|f| f.recorded)
        .unwrap();
    assert_ne!(rec.event_id, other.event_id);

    let forged = token.replace(link.show.tag.as_str(), "AAAAAAAA");
    assert!(c.follow_link(&forged, None, "x", BROWSER, 500).is_none());
    assert!(c.follow_link("q.x", None, "x", BROWSER, 500).is_none());
    // The kind letter swapped: the tag is the scan's, so no link.
    let swapped = TrackingLink {
        kind: LinkKind::Click,
        ..link.clone()
    };
    assert!(c
        .follow_link(&swapped.token(), Some("viewer9"), "x", BROWSER, 500)
        .is_none());
    let click = signer().link(
        LinkKind::Click,
        &link.show.channel,
        &link.show.product,
        link.show.show,
    );
    assert!(c
        .follow_link(
            &click.token().replacen('o', "q", 1),
            None,
            "x",
            BROWSER,
            500
        )
        .is_none());
    let rec = c
        .follow_link(&click.token(), Some("viewer9"), "x", BROWSER, 500)
        .and_then(|f| f.recorded)
        .unwrap();
    assert_eq!(
        (rec.measure, rec.viewer.as_str(), rec.replay),
        (Measure::Click, "viewer9", false)
    );
    // The same link from a replay's card: recorded as replay, and counted
    // apart from the live one (another event id).
    let replayed = TrackingLink {
        replay: true,
        ..click.clone()
    };
    let rec_replay = c
        .follow_link(&replayed.token(), Some("viewer9"), "x", BROWSER, 500)
        .and_then(|f| f.recorded)
        .unwrap();
    assert!(rec_replay.replay);
    assert_ne!(rec_replay.event_id, rec.event_id);
}

#[test]
fn the_report_agrees_across_formats() {
    let mut a = ShowCounts {
        channel: "chan1".into(),
        product: "cap".into(),
        show: 42,
        ..ShowCounts::default()
    };
    a.add(Measure::Impression, 4);
    a.add(Measure::Viewable, 3);
    a.add(Measure::Click, 1);
    a.add(Measure::Scan, 1);
    let table = render_report(std::slice::from_ref(&a), ReportFormat::Table);
    assert!(
        table.contains("0.7500") && table.contains("0.5000"),
        "{table}"
    );
    let csv = render_report(std::slice::from_ref(&a), ReportFormat::Csv);
    assert_eq!(
        csv.lines().nth(1),
        Some("chan1,cap,42,live,4,3,0.7500,1,1,0.5000,0,0.0000")
    );
    let json: serde_json::Value =
        serde_json::from_str(&render_report(&[a], ReportFormat::Json)).unwrap();
    assert_eq!(json[0]["click_through_rate"], 0.5);
    assert_eq!(json[0]["view_rate"], 0.75);
    assert!(render_report(&[], ReportFormat::Table).contains("no shows"));
}

#[test]
fn hours_are_utc_calendar_hours() {
    assert_eq!(crate::calendar::hour_of(0), "1970-01-01T00");
    assert_eq!(crate::calendar::hour_of(1_796_300_000), "2026-12-03T12");
    assert_eq!(
        crate::calendar::hour_of(951_782_400 + 3 * 3600),
        "2000-02-29T03"
    );
}

#[test]
fn base64url_matches_the_standard() {
    assert_eq!(base64url(b"\xfb\xff\xbf"), "-_-_");
    assert_eq!(base64url(b"Man"), "TWFu");
    assert_eq!(base64url(&[0; 6]), "AAAAAAAA");
}

#[test]
fn replay_counters_are_named_apart_and_read_back() {
    let all: Vec<Counter> = Counter::all(false).chain(Counter::all(true)).collect();
    assert_eq!(all.len(), 2 * (Measure::ALL.len() + 1));
    for c in &all {
        assert_eq!(Counter::parse(&c.name()), Some(*c), "{}", c.name());
    }
    assert_eq!(
        Counter {
            measure: Some(Measure::Scan),
            replay: true
        }
        .name(),
        "replay_scan"
    );
    assert_eq!(Counter::parse("invalid").map(|c| c.measure), Some(None));
    assert_eq!(Counter::parse("replay_nothing"), None);
    // The report gives a replay row its audience.
    let row = ReportRow::from(&ShowCounts {
        replay: true,
        impressions: 3,
        ..ShowCounts::default()
    });
    assert_eq!(row.audience, "replay");
    assert!(render_report(
        &[ShowCounts {
            replay: true,
            ..ShowCounts::default()
        }],
        ReportFormat::Csv
    )
    .contains(",replay,"));
}
