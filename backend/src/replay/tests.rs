use super::*;
use ad_contract::{CueItem, ProductId};
use proptest::prelude::*;

const START: u64 = 1_796_000_000_000;

fn recording() -> RecordingEnded {
    RecordingEnded::from_json(
        "ivs/v1/123456789012/AbCd1234/2026/12/7/20/5/rec1",
        r#"{"version":"v1","channel_arn":"arn:aws:ivs:us-east-1:123456789012:channel/AbCd1234",
            "recording_started_at":"2026-11-30T00:53:20Z","recording_ended_at":"2026-11-30T00:55:00.500Z",
            "recording_status":"RECORDING_ENDED",
            "media":{"hls":{"duration_ms":100500,"path":"media/hls","playlist":"master.m3u8"}}}"#,
    )
    .expect("IVS's recording-ended.json reads")
}

fn cue(seq: u64, items: &[(&str, u32)]) -> Cue {
    Cue {
        seq: Some(seq),
        channel: None,
        show: items
            .iter()
            .map(|(id, left)| CueItem::new(ProductId::parse(id).expect("id"), *left))
            .collect(),
    }
}

fn logged(sent_ms: u64, items: &[(&str, u32)]) -> LoggedCue {
    LoggedCue {
        sent_ms,
        catalog_version: "v1".into(),
        cue: cue(sent_ms, items).encode().expect("encodes"),
    }
}

#[test]
fn reads_ivs_recording_ended_json() {
    let r = recording();
    assert_eq!(r.channel.as_str(), "AbCd1234");
    assert_eq!(r.started_ms, START);
    assert_eq!(r.ended_ms, START + 100_500);
    assert_eq!(r.duration_secs, 100.5);
    assert_eq!(
        r.playlist,
        "ivs/v1/123456789012/AbCd1234/2026/12/7/20/5/rec1/media/hls/master.m3u8"
    );
    assert_eq!(
        r.cues_key(),
        "ivs/v1/123456789012/AbCd1234/2026/12/7/20/5/rec1/media/hls/cues.json"
    );
}

#[test]
fn a_bad_recording_ended_json_names_its_field() {
    let prefix = "ivs/v1/1/AbCd1234/2026/12/7/20/5/rec1";
    for (text, field) in [
        ("nope", "not JSON"),
        (
            r#"{"recording_started_at":"2026-12-01T00:53:20Z"}"#,
            "\"channel_arn\"",
        ),
        (
            r#"{"channel_arn":"arn:aws:ivs:us-east-1:1:channel/AbCd1234","recording_started_at":"yesterday","recording_ended_at":"2026-12-01T00:53:20Z"}"#,
            "\"recording_started_at\"",
        ),
        (
            r#"{"channel_arn":"arn:aws:ivs:us-east-1:1:channel/AbCd1234","recording_started_at":"2026-12-01T00:53:20Z","recording_ended_at":"2026-12-01T00:50:20Z"}"#,
            "before",
        ),
        (
            r#"{"channel_arn":"arn:aws:ivs:us-east-1:1:channel/AbCd1234","recording_started_at":"2026-12-01T00:53:20Z","recording_ended_at":"2026-12-01T00:54:20Z","media":{"hls":{"path":"../../x"}}}"#,
            "leaves the recording",
        ),
    ] {
        let e = RecordingEnded::from_json(prefix, text).expect_err(text);
        assert!(e.contains(field), "{e:?} should name {field}");
    }
}

#[test]
fn only_recording_ended_keys_of_the_ivs_layout_are_recordings() {
    assert_eq!(
        recording_ended_prefix("ivs/v1/1/AbCd/2026/12/7/20/5/rec1/events/recording-ended.json"),
        Some("ivs/v1/1/AbCd/2026/12/7/20/5/rec1")
    );
    for key in [
        "ivs/v1/1/AbCd/2026/12/7/20/5/rec1/events/recording-started.json",
        "ivs/v1/1/AbCd/2026/12/7/20/5/rec1/media/thumbnails/thumb1.jpg",
        "other/1/AbCd/2026/12/7/20/5/rec1/events/recording-ended.json",
        "ivs/v1/events/recording-ended.json",
    ] {
        assert_eq!(recording_ended_prefix(key), None, "{key}");
    }
}

#[test]
fn log_keys_sort_by_time_and_catalog_keys_are_safe() {
    let ch = ChannelId::from_arn("arn:aws:ivs:us-east-1:1:channel/AbCd1234").expect("arn");
    let a = cue_log_key(&ch, 999_999_999_999, Some(5));
    let b = cue_log_key(&ch, 1_000_000_000_000, Some(1));
    assert!(a < b, "{a} < {b}");
    assert!(a.starts_with("cue-log/AbCd1234/0999999999999-"));
    let key = catalog_key("\"9b2c/..\"");
    assert!(key
        .trim_start_matches("cue-log/catalogs/")
        .trim_end_matches(".json")
        .bytes()
        .all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn the_timeline_keeps_changes_at_their_time_and_drops_re_sends() {
    let log = vec![
        logged(START + 3_000, &[("kestrel", 20)]),
        // Re-sends counting down: dropped.
        logged(START + 8_000, &[("kestrel", 15)]),
        logged(START + 13_100, &[("kestrel", 10)]),
        // A second card: kept.
        logged(START + 15_000, &[("kestrel", 8), ("aurora-mug", 20)]),
        // The clear: kept.
        logged(START + 40_000, &[]),
        // After the end: left out.
        logged(START + 200_000, &[("kestrel", 20)]),
    ];
    let t = build_timeline(&recording(), &log, &[]);
    let at: Vec<f64> = t.cues.iter().map(|c| c.at).collect();
    assert_eq!(at, vec![3.0, 15.0, 40.0]);
    assert_eq!(t.duration_secs, 100.5);
    let cards = |s: f64| -> Vec<(String, u32)> {
        t.cards_at(s)
            .into_iter()
            .map(|i| (i.id.as_str().to_owned(), i.seconds_left))
            .collect()
    };
    assert_eq!(cards(2.0), vec![]);
    assert_eq!(cards(10.0), vec![("kestrel".into(), 13)]);
    assert_eq!(
        cards(20.0),
        vec![("kestrel".into(), 3), ("aurora-mug".into(), 15)]
    );
    assert_eq!(cards(50.0), vec![]);
}

#[test]
fn a_card_up_before_the_recording_started_is_there_at_zero_with_its_time_left() {
    let log = vec![
        logged(START - 30_000, &[("aurora-mug", 10)]),
        logged(START - 5_000, &[("kestrel", 20)]),
    ];
    let t = build_timeline(&recording(), &log, &[]);
    assert_eq!(t.cues.len(), 1);
    assert_eq!(t.cues[0].at, 0.0);
    assert_eq!(t.cues[0].cue.show[0].id.as_str(), "kestrel");
    assert_eq!(t.cues[0].cue.show[0].seconds_left, 15);
    // Expired before the start: nothing.
    let t = build_timeline(
        &recording(),
        &[logged(START - 30_000, &[("kestrel", 10)])],
        &[],
    );
    assert!(t.cues.is_empty());
}

#[test]
fn the_timeline_carries_only_the_catalogs_its_cues_name_and_skips_bad_cues() {
    let catalog = |id: &str| {
        Catalog::from_json(&format!(
            r#"{{"products":[{{"id":"{id}","labels":["{id}"],"title":"T","price":"$1","image_url":"https://shop.example/a.png","link_url":"https://shop.example/","min_confidence":70,"display_seconds":20,"cooldown_seconds":30}}]}}"#
        ))
        .expect("catalog")
    };
    let mut log = vec![logged(START + 1_000, &[("kestrel", 20)])];
    log.push(LoggedCue {
        sent_ms: START + 2_000,
        catalog_version: "v2".into(),
        cue: "not a cue".into(),
    });
    let t = build_timeline(
        &recording(),
        &log,
        &[
            ("v1".into(), catalog("kestrel")),
            ("v2".into(), catalog("other")),
        ],
    );
    assert_eq!(t.cues.len(), 1);
    assert_eq!(t.catalogs.len(), 1);
    assert_eq!(t.catalogs[0].0, "v1");
    // What is written reads back with the contract's reader.
    let text = t.to_json().expect("encodes");
    assert_eq!(CueTimeline::from_json(&text).expect("reads"), t);
}

#[test]
fn the_index_replaces_a_recording_keeps_newest_first_and_is_bounded() {
    let entry = |rec: &str, at: &str| serde_json::json!({"recording": rec, "started_at": at});
    let one = add_to_index(None, entry("/a/", "2026-12-01T00:00:00Z"), None);
    let two = add_to_index(Some(&one), entry("/b/", "2026-12-02T00:00:00Z"), None);
    let again = add_to_index(Some(&two), entry("/a/", "2026-12-01T00:00:00Z"), None);
    let v: Vec<Value> = serde_json::from_str(&again).expect("array");
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["recording"], "/b/");
    let broken = add_to_index(Some("{\"hand\": \"edited\"}"), entry("/c/", "x"), None);
    // Expired from the bucket: dropped.
    let day_two = millis("t", "2026-12-02T00:00:00Z").unwrap_or_default();
    let pruned = add_to_index(
        Some(&again),
        entry("/c/", "2026-12-03T00:00:00Z"),
        Some(day_two),
    );
    let v: Vec<Value> = serde_json::from_str(&pruned).expect("array");
    let kept: Vec<&str> = v.iter().filter_map(|e| e["recording"].as_str()).collect();
    assert_eq!(kept, ["/c/", "/b/"]);
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&broken)
            .expect("array")
            .len(),
        1
    );
    let mut index = None;
    for i in 0..MAX_INDEX_ENTRIES + 3 {
        index = Some(add_to_index(
            index.as_deref(),
            entry(
                &format!("/{i}/"),
                &format!("2026-12-01T00:00:{:02}.{i:04}Z", i % 60),
            ),
            None,
        ));
    }
    let v: Vec<Value> = serde_json::from_str(&index.unwrap_or_default()).expect("array");
    assert_eq!(v.len(), MAX_INDEX_ENTRIES);
}

fn arb_cue() -> impl Strategy<Value = (u64, Vec<(u8, u32)>)> {
    (
        0u64..120_000,
        proptest::collection::vec((0u8..4, 1u32..60), 0..3),
    )
}

proptest! {
    /// Whatever the log (any order, re-sends, cues before and after the
    /// recording), the timeline is in time order, inside the recording,
    /// and shows at every moment what the newest cue sent by then said,
    /// counted down: dropping re-sends loses no card.
    #[test]
    fn the_timeline_shows_what_the_newest_cue_said(log in proptest::collection::vec(arb_cue(), 0..12)) {
        let r = recording();
        let entries: Vec<LoggedCue> = log
            .iter()
            .map(|(offset, items)| {
                let mut seen = std::collections::BTreeSet::new();
                let items: Vec<(String, u32)> = items
                    .iter()
                    .filter(|(p, _)| seen.insert(*p))
                    .map(|(p, left)| (format!("p{p}"), *left))
                    .collect();
                let refs: Vec<(&str, u32)> = items.iter().map(|(p, l)| (p.as_str(), *l)).collect();
                logged(START - 20_000 + offset, &refs)
            })
            .collect();
        let t = build_timeline(&r, &entries, &[]);
        prop_assert!(t.cues.windows(2).all(|w| w[0].at <= w[1].at));
        prop_assert!(t.cues.iter().all(|c| c.at >= 0.0 && c.at <= t.duration_secs));
        let mut sorted = entries.clone();
        sorted.sort_by_key(|e| e.sent_ms);
        for s in (0..100).map(|s| s as f64 + 0.5) {
            let at_ms = r.started_ms + (s * 1000.0) as u64;
            // What a live viewer saw: the newest cue by then, counted down.
            let live: Vec<String> = sorted
                .iter()
                .rev()
                .find(|e| e.sent_ms <= at_ms)
                .map(|e| {
                    let c = Cue::decode(&e.cue).unwrap_or_default();
                    c.show
                        .iter()
                        .filter(|i| e.sent_ms + u64::from(i.seconds_left) * 1000 > at_ms + 2_000)
                        .map(|i| i.id.as_str().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let replay: Vec<String> = t.cards_at(s).into_iter().map(|i| i.id.as_str().to_owned()).collect();
            // Every card live (with more than the 2 s re-send slack left) is in the replay.
            for id in &live {
                prop_assert!(replay.contains(id), "at {s}: live {live:?}, replay {replay:?}");
            }
        }
    }
}

/// An archive in memory, counting writes (the S3 one is tested over moto).
#[derive(Default)]
struct Memory {
    objects: Mutex<HashMap<String, String>>,
    writes: Mutex<usize>,
}

#[async_trait]
impl RecordingArchive for Memory {
    async fn keep_cue(
        &self,
        channel: &ChannelId,
        seq: Option<u64>,
        entry: &LoggedCue,
    ) -> Result<(), ServiceError> {
        let text = serde_json::to_string(entry).map_err(|e| ServiceError::from(e.to_string()))?;
        self.write(
            &cue_log_key(channel, entry.sent_ms, seq),
            &text,
            WriteIf::Always,
        )
        .await
        .map(|_| ())
    }
    async fn keep_catalog(&self, version: &CatalogVersion) -> Result<(), ServiceError> {
        self.write(
            &catalog_key(&version.version),
            &version.catalog.to_json(),
            WriteIf::Always,
        )
        .await
        .map(|_| ())
    }
    async fn logged_cues(
        &self,
        _channel: &ChannelId,
        _from_ms: u64,
        _to_ms: u64,
    ) -> Result<Vec<LoggedCue>, ServiceError> {
        Err("not used here".into())
    }
    async fn read(&self, key: &str, _limit: u64) -> Result<Option<(String, String)>, ServiceError> {
        Ok(self
            .objects
            .lock()
            .map_err(|_| ServiceError::from("poisoned"))?
            .get(key)
            .map(|t| (t.clone(), String::new())))
    }
    async fn write(
        &self,
        key: &str,
        text: &str,
        _condition: WriteIf,
    ) -> Result<bool, ServiceError> {
        *self
            .writes
            .lock()
            .map_err(|_| ServiceError::from("poisoned"))? += 1;
        self.objects
            .lock()
            .map_err(|_| ServiceError::from("poisoned"))?
            .insert(key.to_owned(), text.to_owned());
        Ok(true)
    }
}

#[tokio::test]
async fn a_warm_log_keeps_changes_and_each_catalog_once_and_skips_re_sends() {
    let memory = std::sync::Arc::new(Memory::default());
    let log = CueLog::new(memory.clone());
    let ch = ChannelId::from_arn("arn:aws:ivs:us-east-1:1:channel/AbCd1234").expect("arn");
    let catalog = CatalogVersion {
        version: "\"etag-1\"".into(),
        catalog: std::sync::Arc::new(
            Catalog::from_json(include_str!("../../../studio/demo/catalog.json")).expect("demo"),
        ),
    };
    log.keep(&ch, START, &cue(1, &[("kestrel", 20)]), &catalog)
        .await;
    log.keep(&ch, START + 5_000, &cue(2, &[("kestrel", 15)]), &catalog)
        .await;
    log.keep(
        &ch,
        START + 6_000,
        &cue(3, &[("kestrel", 14), ("lumen", 20)]),
        &catalog,
    )
    .await;
    log.keep(&ch, START + 7_000, &cue(4, &[]), &catalog).await;
    let objects = memory.objects.lock().map(|o| o.clone()).unwrap_or_default();
    let cues = objects
        .keys()
        .filter(|k| k.starts_with("cue-log/AbCd1234/"))
        .count();
    assert_eq!(cues, 3, "{objects:?}");
    assert!(objects.contains_key(&catalog_key("\"etag-1\"")));
    assert_eq!(
        *memory.writes.lock().expect("count"),
        4,
        "the catalog once, three cues"
    );
}

#[test]
fn recordings_print_as_a_table_with_their_replay_links() {
    let entries = vec![serde_json::json!({
        "recording": "/ivs/v1/1/AbCd/2026/12/7/20/5/rec1/",
        "playlist": "/ivs/v1/1/AbCd/2026/12/7/20/5/rec1/media/hls/master.m3u8",
        "started_at": "2026-12-07T20:05:00.000Z",
        "duration_secs": 125.4,
        "products": ["kestrel", "lumen"],
    })];
    let table = render_recordings(&entries, Some("https://d.example/"));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[1],
        "2026-12-07T20:05:00.000Z\t2:05\tkestrel,lumen\thttps://d.example/recordings.html?recording=%2Fivs%2Fv1%2F1%2FAbCd%2F2026%2F12%2F7%2F20%2F5%2Frec1%2Fmedia%2Fhls%2Fmaster.m3u8"
    );
    let bare = render_recordings(&[serde_json::json!({"bad": true})], None);
    assert_eq!(bare.lines().nth(1), Some("?\t0:00\tnone\t"));
}
