//! Fuzzing every decoder that reads input from outside: cues, catalogs, S3
//! events and thumbnail keys, TS packets and PES headers, ID3 tags, the
//! segmenter's input stream, and image decoding.
//!
//! Why not `cargo fuzz`: it needs a nightly toolchain, and a fresh machine
//! here has only stable. This harness runs on stable, in the README's test
//! command: each target starts from valid inputs (the seeds below), mutates
//! them (bit flips, interesting values, inserted JSON tokens, cut, repeated
//! and spliced ranges) and feeds each result to the decoder, for
//! `FUZZ_SECONDS` per target (default 2; `scripts/test.sh` gives 30). It is
//! not coverage-guided; structure-aware seeds stand in for that.
//!
//! A target fails on a panic, or on one input taking over `SLOW_INPUT`
//! (decoders must bound their work). The input is saved under
//! `tests/fuzz-regressions/<target>/`, and every file there is replayed
//! first on each run, so a found crash stays a regression test once fixed.
//! `FUZZ_SEED` repeats a run.

use libtest_mimic::{Arguments, Failed, Trial};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One input may take at most this long (debug build, one core).
const SLOW_INPUT: Duration = Duration::from_secs(2);
/// Mutated inputs never grow past this.
const MAX_INPUT: usize = 1 << 20;

struct Target {
    name: &'static str,
    seeds: fn() -> Vec<Vec<u8>>,
    /// Feeds one input to the code under test; returns normally whatever
    /// the input (an error is a fine answer, a panic is not).
    run: fn(&[u8]),
    /// Text formats get JSON-token mutations too.
    text: bool,
}

fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "cue_decoder",
            seeds: seeds::cues,
            run: run::cue,
            text: true,
        },
        Target {
            name: "catalog_reader",
            seeds: seeds::catalogs,
            run: run::catalog,
            text: true,
        },
        Target {
            name: "s3_event_and_thumbnail_key",
            seeds: seeds::s3_events,
            run: run::s3_event,
            text: true,
        },
        Target {
            name: "ts_and_pes_readers",
            seeds: seeds::ts_streams,
            run: run::ts_packets,
            text: false,
        },
        Target {
            name: "id3_reader",
            seeds: seeds::id3_tags,
            run: run::id3,
            text: false,
        },
        Target {
            name: "segmenter_input",
            seeds: seeds::ts_streams,
            run: run::segmenter,
            text: false,
        },
        Target {
            name: "image_decode",
            seeds: seeds::images,
            run: run::image,
            text: false,
        },
        Target {
            name: "collector_request",
            seeds: seeds::function_url_events,
            run: run::collector_request,
            text: true,
        },
        Target {
            name: "stream_record_and_raw_file",
            seeds: seeds::stream_records,
            run: run::stream_record,
            text: false,
        },
        Target {
            name: "studio_host_guard",
            seeds: seeds::studio_requests,
            run: run::studio_request,
            text: true,
        },
    ]
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let seconds: f64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    // Panics are caught and reported with their input; the default hook's
    // message for each would drown the report.
    std::panic::set_hook(Box::new(|_| {}));
    let trials = targets()
        .into_iter()
        .enumerate()
        .map(|(i, target)| {
            Trial::test(target.name, move || {
                fuzz(
                    &target,
                    Duration::from_secs_f64(seconds),
                    seed ^ (i as u64 + 1),
                )
            })
        })
        .collect();
    let mut trials: Vec<Trial> = trials;
    trials.push(Trial::test(
        "the_harness_finds_a_planted_panic",
        the_harness_finds_a_planted_panic,
    ));
    libtest_mimic::run(&args, trials).exit_code()
}

/// The harness itself can fail: a decoder that panics on a nested list is
/// caught within seconds, and its input saved.
fn the_harness_finds_a_planted_panic() -> Result<(), Failed> {
    fn planted(input: &[u8]) {
        assert!(!input.windows(4).any(|w| w == b"[[[["), "planted");
    }
    let target = Target {
        name: "planted_panic",
        seeds: seeds::cues,
        run: planted,
        text: true,
    };
    let outcome = fuzz(&target, Duration::from_secs(20), 7);
    let dir = regressions_dir(target.name);
    let saved = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Err(e) if saved == 1 && format!("{e:?}").contains("planted") => Ok(()),
        other => Err(format!(
            "the planted panic was not reported with its input: {other:?}, {saved} saved"
        )
        .into()),
    }
}

fn regressions_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-regressions")
        .join(target)
}

/// Runs `input` through the target: `Err` with the panic message, or on a
/// slow input.
fn try_input(target: &Target, input: &[u8]) -> Result<(), String> {
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    if let Err(panic) = outcome {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        return Err(format!("panicked: {message}"));
    }
    let took = started.elapsed();
    if took > SLOW_INPUT {
        return Err(format!("took {took:?} for {} bytes", input.len()));
    }
    Ok(())
}

fn fuzz(target: &Target, budget: Duration, seed: u64) -> Result<(), Failed> {
    let dir = regressions_dir(target.name);
    let mut replayed = 0;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten().filter(|e| e.path().is_file()) {
            let input = std::fs::read(entry.path())?;
            if let Err(why) = try_input(target, &input) {
                return Err(format!("regression {} {why}", entry.path().display()).into());
            }
            replayed += 1;
        }
    }
    let seeds = (target.seeds)();
    for input in &seeds {
        try_input(target, input).map_err(|why| format!("a seed {why}"))?;
    }
    let mut rng = Rng(seed.max(1));
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < budget {
        let input = mutate(&seeds, &mut rng, target.text);
        runs += 1;
        if let Err(why) = try_input(target, &input) {
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!("{:016x}", fnv1a(&input)));
            std::fs::write(&path, &input)?;
            return Err(format!(
                "{} after {runs} inputs (FUZZ_SEED={seed}): {why}\nthe input is saved as {}; it is replayed on every run",
                target.name,
                path.display()
            )
            .into());
        }
    }
    eprintln!(
        "{}: {runs} inputs in {:.1} s ({replayed} regressions replayed), FUZZ_SEED={seed}",
        target.name,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "-1",
    "0",
    "1e999",
    "-0.0",
    "18446744073709551616",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\\",
    "[[[[[[[[[[[[[[[[",
    "{\"a\":",
    "\"v\":1",
    "\"show\":[]",
    "\"id\":\"x\"",
    "\"left\":5",
    "\"seq\":9",
    "\u{feff}",
    "é",
    "\u{1F600}",
];

fn mutate(seeds: &[Vec<u8>], rng: &mut Rng, text: bool) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        let at = rng.below(len + 1);
        match rng.below(if text { 9 } else { 8 }) {
            0 if len > 0 => data[at.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => data[at.min(len - 1)] = rng.next() as u8,
            2 if len > 0 => {
                data[at.min(len - 1)] = [0u8, 0xFF, 0x7F, 0x80, 0x47, b'0', b'"'][rng.below(7)]
            }
            3 => {
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            4 if len > 0 => {
                let end = (at + 1 + rng.below(64)).min(len);
                data.drain(at.min(len - 1)..end);
            }
            5 if len > 0 => {
                // Repeat a range: deep nesting, long runs, huge counts.
                let start = at.min(len - 1);
                let end = (start + 1 + rng.below(32)).min(len);
                let chunk = data[start..end].to_vec();
                for _ in 0..1 + rng.below(16) {
                    data.splice(start..start, chunk.iter().copied());
                }
            }
            6 => {
                // Splice another seed's tail in.
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            7 if len >= 4 => {
                // An extreme 16- or 32-bit value, either byte order.
                let value: u32 = [0, 1, 0xFFFF, 0xFFFF_FFFF, 0x8000_0000, 0x7FFF][rng.below(6)];
                let bytes = if rng.below(2) == 0 {
                    value.to_be_bytes()
                } else {
                    value.to_le_bytes()
                };
                let width = if rng.below(2) == 0 { 2 } else { 4 };
                let start = at.min(len - 4);
                data[start..start + width].copy_from_slice(&bytes[4 - width..]);
            }
            8 => {
                let token = JSON_TOKENS[rng.below(JSON_TOKENS.len())];
                data.splice(at..at, token.bytes());
            }
            _ => data.truncate(at),
        }
    }
    data.truncate(MAX_INPUT);
    data
}

/// What each target feeds to the code under test.
mod run {
    use backend::thumbnail_key::{url_decode, ThumbnailKey};
    use studio::{id3, segmenter::Segmenter, ts};

    pub fn cue(input: &[u8]) {
        let text = String::from_utf8_lossy(input);
        if let Ok(cue) = ad_contract::Cue::decode(&text) {
            // What decodes must encode to a cue that decodes the same.
            let again = cue.encode().expect("a decoded cue encodes");
            assert_eq!(ad_contract::Cue::decode(&again).as_ref(), Ok(&cue));
        }
    }

    pub fn catalog(input: &[u8]) {
        let text = String::from_utf8_lossy(input);
        if let Ok(catalog) = ad_contract::Catalog::from_json(&text) {
            for p in catalog.products() {
                for label in &p.labels {
                    assert!(catalog.product_for_label(label).is_some());
                }
                assert!(catalog.get_str(p.id.as_str()).is_some());
            }
        }
    }

    pub fn s3_event(input: &[u8]) {
        // What on-thumbnail does with each record before any AWS call.
        let Ok(event) = serde_json::from_slice::<aws_lambda_events::s3::S3Event>(input) else {
            return;
        };
        for record in &event.records {
            let _ = backend::handlers::is_stale(record.event_time.timestamp(), 1_790_000_000, 40);
            if let Some(key) = &record.s3.object.key {
                let _ = url_decode(key);
                if let Ok(parsed) = ThumbnailKey::parse_event_key(key) {
                    let arn = parsed.channel_arn("us-east-1");
                    assert!(arn.starts_with("arn:aws:ivs:us-east-1:"), "{arn}");
                    let _ = backend::thumbnail_key::channel_id_of(&arn);
                }
            }
        }
    }

    pub fn ts_packets(input: &[u8]) {
        for packet in input.chunks(ts::PACKET_SIZE) {
            let _ = ts::parse_header(packet);
            if let Ok(payload) = ts::payload(packet) {
                let _ = ts::parse_pat(payload);
                let _ = ts::parse_pmt(payload);
                if let Some(pes) = ts::parse_pes_start(payload) {
                    let _ = ts::starts_keyframe(0x1B, pes.data);
                    let _ = ts::starts_keyframe(0x24, pes.data);
                }
            }
        }
    }

    pub fn id3(input: &[u8]) {
        let _ = id3::parse_txxx(input);
    }

    pub fn segmenter(input: &[u8]) {
        let mut segmenter = Segmenter::new(1.0);
        for (i, packet) in input.chunks(ts::PACKET_SIZE).enumerate() {
            if i % 7 == 3 {
                segmenter.push_cue(format!(r#"{{"v":1,"seq":{i},"show":[]}}"#));
            }
            if i % 50 == 49 {
                let _ = segmenter.open_so_far();
            }
            if i == 400 {
                segmenter.restart();
            }
            if let Ok(Some(segment)) = segmenter.push_packet(packet) {
                assert!(segment.data.len() % ts::PACKET_SIZE == 0);
                assert!(segment.duration_secs.is_finite() && segment.duration_secs >= 0.0);
            }
        }
    }

    pub fn image(input: &[u8]) {
        if let Ok(gray) = detector::gray::decode(input) {
            assert!(gray.w > 0 && gray.h > 0);
        }
    }

    /// The demo catalog's collector, with the tests' key.
    pub fn collector() -> &'static backend::measure::Collector {
        static COLLECTOR: std::sync::OnceLock<backend::measure::Collector> =
            std::sync::OnceLock::new();
        COLLECTOR.get_or_init(|| {
            backend::measure::Collector::new(super::seeds::demo_catalog(), super::seeds::signer())
        })
    }

    /// A function URL event as the collector reads it, through every check
    /// before the store: the request's translation, the beacon body, the
    /// link token. What it accepts must fit the stream (a partition key of
    /// at most 256 characters) and read back from it as it was.
    pub fn collector_request(input: &[u8]) {
        use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
        let Ok(event) = serde_json::from_slice::<LambdaFunctionUrlRequest>(input) else {
            return;
        };
        let request = backend::collector::from_function_url(&event);
        let now = 1_790_000_000;
        let collector = collector();
        let mut recorded = Vec::new();
        // The CloudFront headers: the secret's check and the viewer
        // address's parse take anything.
        let _ = backend::collector::client_address(Some("0123456789abcdef"), &request);
        if request.path == "/measure/events" {
            if let Ok(accepted) = collector.accept_batch(
                request.body.as_deref().unwrap_or(""),
                &request.source_ip,
                &request.user_agent,
                now,
            ) {
                recorded.extend(accepted.events);
            }
        } else if let Some(token) = request.path.strip_prefix("/r/") {
            let viewer = request
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("v="));
            if let Some(followed) =
                collector.follow_link(token, viewer, &request.source_ip, &request.user_agent, now)
            {
                assert!(
                    followed.location.starts_with("https://"),
                    "{}",
                    followed.location
                );
                recorded.extend(followed.recorded);
            }
        }
        for e in recorded {
            assert!(e.dedupe_key().len() <= 256, "{}", e.dedupe_key());
            let line = serde_json::to_vec(&e).expect("an event serialises");
            assert_eq!(
                backend::aggregate::decode_event(&line).ok().as_ref(),
                Some(&e)
            );
        }
    }

    /// A measurement stream record's data and a raw events file, as the
    /// aggregator and `adctl reconcile` read them.
    pub fn stream_record(input: &[u8]) {
        if let Ok(e) = backend::aggregate::decode_event(input) {
            let updates = backend::aggregate::counter_updates([&e]);
            let added: u64 = updates.iter().flat_map(|u| u.counts.values()).sum();
            assert_eq!(
                added,
                if e.robot { 0 } else { 2 },
                "a show's and an hour's counter"
            );
        }
        if let Ok((events, _bad)) = backend::reconcile::read_raw_file(input) {
            let counts = backend::reconcile::raw_counts(&events);
            let total: u64 = counts.values().flat_map(|m| m.values()).sum();
            assert!(total as usize <= events.len());
        }
        let text = String::from_utf8_lossy(input);
        let _ = backend::aggregate::SequenceNumber::parse(&text);
        let _ = backend::aggregate::ShardId::parse(&text);
        let _ = backend::calendar::parse_day(&text);
    }

    /// A request to the studio as its Host/Origin guard sees it: lines of
    /// method, path, then `name: value` headers. A Host that is not this
    /// machine is always refused.
    pub fn studio_request(input: &[u8]) {
        use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
        let text = String::from_utf8_lossy(input);
        let mut lines = text.lines();
        let method =
            Method::from_bytes(lines.next().unwrap_or("GET").as_bytes()).unwrap_or(Method::GET);
        let path = lines.next().unwrap_or("/");
        let mut headers = HeaderMap::new();
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.trim().as_bytes()),
                    HeaderValue::from_str(value.trim()),
                ) {
                    headers.append(name, value);
                }
            }
        }
        let guard = studio::guard::Guard::new(8080, &["https://shop.example".to_string()], false);
        let verdict = studio::guard::check(&guard, &method, path, &headers);
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !studio::guard::is_loopback_host(host) {
            assert!(verdict.is_some(), "Host {host:?} let through");
        }
    }
}

/// Valid inputs the mutations start from.
mod seeds {
    use studio::{id3, ts};

    pub fn demo_catalog() -> ad_contract::Catalog {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../studio/demo/catalog.json"
        ))
        .unwrap_or_default();
        ad_contract::Catalog::from_json(&text).expect("the demo catalog reads")
    }

    pub fn signer() -> backend::measure::ShowSigner {
        backend::measure::ShowSigner::new(&[42; 32]).expect("a 32-byte key")
    }

    fn demo_show() -> ad_contract::ShowRef {
        let catalog = demo_catalog();
        let product = catalog.products()[0].id.clone();
        let channel = ad_contract::ChannelId::parse("fuzzchannel").expect("a channel id");
        let show = ad_contract::ShowId(1_789_999_000_000);
        ad_contract::ShowRef {
            tag: signer().tag(&channel, &product, show),
            channel,
            product,
            show,
        }
    }

    fn function_url_event(method: &str, path: &str, query: &str, body: Option<&str>) -> Vec<u8> {
        let ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36";
        serde_json::json!({
            "version": "2.0",
            "rawPath": path,
            "rawQueryString": query,
            "headers": {"content-type": "text/plain;charset=UTF-8", "user-agent": ua, "sec-purpose": "prefetch"},
            "requestContext": {
                "accountId": "anonymous", "apiId": "fuzz",
                "domainName": "fuzz.lambda-url.us-east-1.on.aws", "domainPrefix": "fuzz",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": ua},
                "requestId": "r", "routeKey": "$default", "stage": "$default",
                "time": "03/Dec/2026:00:00:00 +0000", "timeEpoch": 1_790_000_000_000u64
            },
            "body": body,
            "isBase64Encoded": false
        })
        .to_string()
        .into_bytes()
    }

    pub fn function_url_events() -> Vec<Vec<u8>> {
        use ad_contract::measure::{EventBatch, EventKind, LinkKind, OpaqueId, ViewerEvent};
        let show = demo_show();
        let batch = EventBatch {
            replay: false,
            viewer: OpaqueId::from_lossy("viewer1"),
            events: [EventKind::Impression, EventKind::Viewable, EventKind::Open]
                .into_iter()
                .enumerate()
                .map(|(i, kind)| ViewerEvent {
                    id: OpaqueId::from_lossy(&format!("e{i}")),
                    kind,
                    show: show.clone(),
                })
                .collect(),
        }
        .to_json();
        let link = super::seeds::signer()
            .link(LinkKind::Scan, &show.channel, &show.product, show.show)
            .token();
        // The seeds reach the checks that matter: both are taken.
        let collector = super::run::collector();
        let taken = collector
            .accept_batch(
                &batch,
                "198.51.100.7",
                "Mozilla/5.0 Chrome/130.0",
                1_790_000_000,
            )
            .map(|a| a.events.len());
        assert_eq!(taken, Ok(3), "the beacon seed is accepted");
        assert!(
            collector
                .follow_link(
                    &link,
                    None,
                    "203.0.113.9",
                    "Mozilla/5.0 Chrome/130.0",
                    1_790_000_000
                )
                .and_then(|f| f.recorded)
                .is_some(),
            "the link seed counts"
        );
        vec![
            function_url_event("POST", "/measure/events", "", Some(&batch)),
            function_url_event("GET", &format!("/r/{link}"), "v=viewer1", None),
        ]
    }

    pub fn stream_records() -> Vec<Vec<u8>> {
        use std::io::Write;
        let line = serde_json::json!({
            "event_id": "e1", "viewer": "viewer1", "measure": "impression", "channel": "fuzzchannel",
            "product": "kestrel", "show": 1_789_999_000_000u64, "at": 1_790_000_000u64, "robot": false
        })
        .to_string();
        let file = format!("{line}\n{line}\nnot json\n");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(file.as_bytes());
        vec![
            line.into_bytes(),
            gz.finish().unwrap_or_default(),
            b"shardId-000000000001".to_vec(),
            b"2026-12-06".to_vec(),
        ]
    }

    pub fn studio_requests() -> Vec<Vec<u8>> {
        [
            "POST\n/measure/events\nhost: 127.0.0.1:8080\norigin: https://elsewhere.example\ncontent-type: text/plain",
            "POST\n/api/ivs/PutMetadata\nhost: localhost:8080\norigin: http://127.0.0.1:8080\ncontent-type: application/json",
            "GET\n/api/video/live.m3u8\nhost: [::1]:8080\norigin: https://shop.example",
            "DELETE\n/api/catalog\nhost: attacker.example\n",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    }

    pub fn cues() -> Vec<Vec<u8>> {
        [
            r#"{"v":1,"show":[]}"#,
            r#"{"v":1,"seq":1796300000123,"show":[{"id":"aurora-mug","left":17},{"id":"cap","left":3}]}"#,
            r#"{"v":1,"show":[{"id":"kestrel","left":20,"extra":{"nested":[1,2,{"x":null}]}}],"future":"field"}"#,
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    }

    pub fn catalogs() -> Vec<Vec<u8>> {
        let demo = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../studio/demo/catalog.json"
        ))
        .unwrap_or_default();
        let small = serde_json::json!({"products": [{
            "id": "mug", "labels": ["mug", "Mug Logo"], "title": "Mug", "description": "A mug",
            "price": "$10.00", "image_url": "img/mug.png", "link_url": "https://shop.example.com/mug",
            "min_confidence": 70, "display_seconds": 20, "cooldown_seconds": 60,
            "reference_images": ["mug.png", "s3://b/k.png"], "wordmark": "mug"
        }]});
        vec![demo, small.to_string().into_bytes()]
    }

    pub fn s3_events() -> Vec<Vec<u8>> {
        let key = "ivs/v1/123456789012/AbCd1234/2026/11/24/17/5/rec1/media/thumbnails/thumb0.jpg";
        let record = |key: &str, name: &str| {
            serde_json::json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2026-11-24T17:05:00.000Z", "eventName": name,
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "ivs-recordings", "arn": "arn:aws:s3:::ivs-recordings"},
                       "object": {"key": key, "size": 1024, "eTag": "abc", "sequencer": "0A1B"}}
            })
        };
        vec![
            serde_json::json!({"Records": [record(key, "ObjectCreated:Put")]}).to_string().into_bytes(),
            serde_json::json!({"Records": [
                record("ivs/v1/123456789012/AbCd1234/2026/11/24/17/5/rec1/media/latest_thumbnail/thumb.jpg", "ObjectCreated:Put"),
                record("ivs%2Fv1%2F123456789012%2Fa+b%2F2026", "ObjectRemoved:Delete")
            ]})
            .to_string()
            .into_bytes(),
        ]
    }

    fn pid(value: u16) -> ts::Pid {
        ts::Pid::new(value).unwrap_or(ts::PAT_PID)
    }

    /// A small valid stream: PAT, PMT (H.264 on PID 256), then a second of
    /// video PES packets at 30 fps, a keyframe every 15 frames.
    pub fn ts_streams() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let pmt = ts::Pmt {
            program_number: 1,
            pcr_pid: pid(256),
            program_info: Vec::new(),
            streams: vec![ts::PmtStream {
                stream_type: 0x1B,
                pid: pid(256),
                es_info: Vec::new(),
            }],
        };
        let program = ts::Program {
            number: 1,
            pmt_pid: pid(4096),
        };
        let mut pat_cc = ts::ContinuityCounter::default();
        let mut pmt_cc = ts::ContinuityCounter::default();
        let mut video_cc = ts::ContinuityCounter::default();
        for frame in 0..45u64 {
            if frame % 15 == 0 {
                out.extend_from_slice(&ts::psi_packet(
                    ts::PAT_PID,
                    pat_cc.take(),
                    &ts::pat_section(program),
                ));
                out.extend_from_slice(&ts::psi_packet(
                    program.pmt_pid,
                    pmt_cc.take(),
                    &ts::pmt_section(&pmt),
                ));
            }
            let nal: &[u8] = if frame % 15 == 0 {
                &[0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00]
            } else {
                &[0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x41, 0x9A, 0x00]
            };
            let pes = ts::pes_with_pts(0xE0, 90_000 + frame * 3000, nal);
            for packet in ts::packetize_pes(pid(256), &mut video_cc, &pes) {
                out.extend_from_slice(&packet);
            }
        }
        vec![out]
    }

    pub fn id3_tags() -> Vec<Vec<u8>> {
        vec![
            id3::txxx_tag("", r#"{"v":1,"show":[]}"#),
            id3::txxx_tag("description", "é ünïcode value"),
            id3::priv_tag(
                "com.apple.streaming.transportStreamTimestamp",
                &[0, 0, 0, 0, 0, 1, 0x5F, 0x90],
            ),
        ]
    }

    pub fn images() -> Vec<Vec<u8>> {
        use image::{ImageFormat, RgbImage};
        let img = RgbImage::from_fn(24, 16, |x, y| {
            image::Rgb([(x * 10) as u8, (y * 15) as u8, ((x ^ y) * 8) as u8])
        });
        [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP]
            .into_iter()
            .filter_map(|format| {
                let mut bytes = std::io::Cursor::new(Vec::new());
                img.write_to(&mut bytes, format)
                    .ok()
                    .map(|_| bytes.into_inner())
            })
            .collect()
    }
}
