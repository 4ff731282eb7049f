//! Evaluates the built-in detector on the generated scene set: precision and
//! recall per condition, the precision/recall trade-off over thresholds, and
//! the time per frame (one thread) and peak memory.
//!
//! `cargo run --release -p detector-eval --bin eval-detector -- [SCENES_PER_CONDITION] [--products N] [--only a,b] [--save DIR]`
//!
//! `--no-text` leaves the wordmark signal out (and its models unread);
//! `--no-small` leaves out the whole-logo search for small logos
//! (`detector::small`).
//! `--reading where-placed|every-placement|whole-frame` says where the
//! wordmark signal reads (`detector::Reading`; where-placed is the
//! detector's default). Each condition is scored three ways: the keypoint
//! path alone, the wordmark signal alone, and the two fused (what the
//! detector reports). The wordmark signal is scored alone with
//! `every-placement` or `whole-frame`: by default it reads only what the
//! keypoint path has not found.
//!
//! `--only` keeps the conditions named (with `--real-photos`: the
//! tuning half's photos named, `p003,n005`) (their names in lower case, as
//! `--save` writes them: `tiny,recoloured,lookalike`).
//!
//! `--real-photos [DIR]` scores the real-photo development set instead
//! (`../shared/real-photos`, or `$REAL_PHOTOS`): precision and recall per
//! half, per form, brand, logo width and condition, the threshold sweep and
//! the time per frame. `--list` prints each photo's result, for the tuning
//! half only: the held-out half is read as figures, never photo by photo.
//!
//! `--products N` adds made-up brands to the references so the catalog has
//! N products (the two seed labels plus N - 2 that never appear), for the
//! speed and memory figures with a bigger catalog.
//!
//! `--budget` prints issue 28's budget table instead, from generated
//! 1280x720 frames (SCENES_PER_CONDITION each, 3 unless given) with 2, 20
//! and 100 products: the detector's start-up (references analysed, text
//! models loaded: its share of a Lambda cold start), the time per frame
//! (decode included, one thread), the peak memory of each catalog size, and
//! the Lambda cost per channel-hour at 5 s thumbnails (the pricing model is
//! [`LambdaPricing`], docs/figures.md states it).

use anyhow::Context;
use detector::{gray, Found, Signal, DEFAULT_MIN_CONFIDENCE};
use detector_eval::scenes::{
    eval_set, made_up_references, scene, score, seed_detector, Condition, Tally,
};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    // `RUST_LOG=detector=trace` prints where each frame's time goes.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = std::env::args().skip(1);
    let mut per_condition = 40u64;
    let mut save = None;
    let mut products = 2usize;
    let mut only: Option<Vec<String>> = None;
    let mut reading = Some(detector::Reading::default());
    let mut small_logos = true;
    let mut real: Option<std::path::PathBuf> = None;
    let mut list = false;
    let mut xfeat = false;
    let mut orb = true;
    let mut lockup_parts = true;
    let mut budget_mode = false;
    let mut per_condition_given = false;
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--real-photos" => {
                real = Some(match args.peek() {
                    Some(d) if !d.starts_with("--") => {
                        args.next().map(Into::into).unwrap_or_default()
                    }
                    _ => detector_eval::real_photos::default_dir(),
                })
            }
            "--list" => list = true,
            "--budget" => budget_mode = true,
            "--xfeat" => xfeat = true,
            "--no-orb" => orb = false,
            "--no-parts" => lockup_parts = false,
            "--save" => {
                save = Some(std::path::PathBuf::from(
                    args.next().context("--save needs a folder")?,
                ))
            }
            "--no-text" => reading = None,
            "--no-small" => small_logos = false,
            "--reading" => {
                reading = Some(match args.next().as_deref() {
                    Some("where-placed") => detector::Reading::WherePlaced,
                    Some("every-placement") => detector::Reading::EveryPlacement,
                    Some("whole-frame") => detector::Reading::WholeFrame,
                    other => anyhow::bail!(
                    "--reading takes where-placed, every-placement or whole-frame, not {other:?}"
                ),
                })
            }
            "--only" => {
                only = Some(
                    args.next()
                        .context("--only needs condition names, e.g. tiny,recoloured")?
                        .split(',')
                        .map(|n| n.trim().to_lowercase())
                        .collect(),
                )
            }
            "--products" => {
                products = args
                    .next()
                    .context("--products needs a number")?
                    .parse()
                    .context("--products needs a number")?;
            }
            n => {
                per_condition = n
                    .parse()
                    .with_context(|| format!("{n:?} is not a number of scenes"))?;
                per_condition_given = true;
            }
        }
    }
    let params = detector::Params {
        reading: reading.unwrap_or_default(),
        small_logos,
        orb,
        lockup_parts,
        ..detector::Params::default()
    };
    let xfeat = if xfeat {
        Some(std::sync::Arc::new(detector::xfeat::XFeat::load(
            &detector::xfeat::default_weights(),
        )?))
    } else {
        None
    };
    if budget_mode {
        return budget(if per_condition_given {
            per_condition
        } else {
            3
        });
    }
    if let Some(dir) = real {
        return real_photos(&dir, params, reading, products, list, xfeat, only);
    }
    let set = eval_set()?;
    let mut references = set.references.clone();
    references.extend(made_up_references(products.saturating_sub(2)));
    let mut detector = seed_detector(references, params, reading.is_some())?;
    if let Some(net) = xfeat {
        detector = detector.with_learned_features(net);
    }
    println!(
        "built-in detector on {} generated 1280x720 scenes per condition; references: {}",
        per_condition,
        reference_names(&set.references)
    );
    println!(
        "{} products in the catalog; min confidence {DEFAULT_MIN_CONFIDENCE}\n",
        products.max(2)
    );
    println!(
        "wordmark signal: {}\n",
        match reading {
            Some(r) => format!("on, read {r:?}"),
            None => "off (--no-text)".into(),
        }
    );
    println!("| condition | precision | recall | TP | FP | FN | keypoints alone P / R | wordmark alone P / R |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let thresholds: Vec<f32> = (0..=18).map(|k| 10.0 + 5.0 * k as f32).collect();
    let mut sweep = vec![Tally::default(); thresholds.len()];
    let mut total = Tally::default();
    let (mut total_k, mut total_t) = (Tally::default(), Tally::default());
    let mut times = Vec::new();
    // Recall by the logo's width in a 1280-wide frame (scenes with one
    // logo): where the small-logo floor is.
    const WIDTHS: [(f32, f32); 6] = [
        (0.0, 60.0),
        (60.0, 80.0),
        (80.0, 100.0),
        (100.0, 150.0),
        (150.0, 300.0),
        (300.0, f32::MAX),
    ];
    let mut by_width = [(0usize, 0usize); WIDTHS.len()];
    for condition in Condition::ALL {
        let key = format!("{condition:?}").to_lowercase();
        if only.as_ref().is_some_and(|o| !o.contains(&key)) {
            continue;
        }
        let mut tally = Tally::default();
        let (mut by_keypoints, mut by_text) = (Tally::default(), Tally::default());
        for i in 0..per_condition {
            let s = scene(condition, i, &set.positives, &set.others);
            if let Some(dir) = &save {
                std::fs::create_dir_all(dir)?;
                let name = format!("{key}-{i:03}.jpg");
                std::fs::write(dir.join(name), &s.jpeg)?;
            }
            let frame = gray::decode(&s.jpeg)?;
            let started = Instant::now();
            let candidates = detector.candidates(&frame);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            for (k, t) in thresholds.iter().enumerate() {
                let found: Vec<_> = candidates
                    .iter()
                    .filter(|c| c.confidence >= *t)
                    .map(|c| (c.label.clone(), c.bbox.to_array()))
                    .collect();
                sweep[k].add(score(&found, &s.truth));
            }
            let found: Vec<_> = candidates
                .iter()
                .filter(|c| c.confidence >= DEFAULT_MIN_CONFIDENCE)
                .map(|c| (c.label.clone(), c.bbox.to_array()))
                .collect();
            let scored = score(&found, &s.truth);
            if scored.false_positives > 0 {
                // Each false label, so it can be looked at (`--save`).
                eprintln!(
                    "false label in {key}-{i:03}: found {found:?}, truth {:?}",
                    s.truth
                );
            }
            tally.add(scored);
            if let [(_, truth)] = s.truth.as_slice() {
                let width = truth[2] * 1280.0;
                if let Some(k) = WIDTHS
                    .iter()
                    .position(|(lo, hi)| (*lo..*hi).contains(&width))
                {
                    by_width[k].0 += 1;
                    by_width[k].1 += score(&found, &s.truth).true_positives.min(1);
                }
            }
            let alone = |signal: fn(&Found) -> Option<Signal>| -> Vec<_> {
                candidates
                    .iter()
                    .filter_map(|c| Some((c.label.clone(), signal(c)?)))
                    .filter(|(_, s)| s.confidence >= DEFAULT_MIN_CONFIDENCE)
                    .map(|(label, s)| (label, s.bbox.to_array()))
                    .collect()
            };
            by_keypoints.add(score(&alone(|c| c.keypoints), &s.truth));
            by_text.add(score(&alone(|c| c.text), &s.truth));
        }
        total.add(tally);
        total_k.add(by_keypoints);
        total_t.add(by_text);
        println!(
            "| {} | {:.3} | {:.3} | {} | {} | {} | {:.3} / {:.3} | {:.3} / {:.3} |",
            condition.name(),
            tally.precision(),
            tally.recall(),
            tally.true_positives,
            tally.false_positives,
            tally.false_negatives,
            by_keypoints.precision(),
            by_keypoints.recall(),
            by_text.precision(),
            by_text.recall(),
        );
    }
    println!(
        "| **all** | **{:.3}** | **{:.3}** | {} | {} | {} | {:.3} / {:.3} | {:.3} / {:.3} |",
        total.precision(),
        total.recall(),
        total.true_positives,
        total.false_positives,
        total.false_negatives,
        total_k.precision(),
        total_k.recall(),
        total_t.precision(),
        total_t.recall(),
    );
    println!("\nthreshold sweep (all conditions):");
    for (t, tally) in thresholds.iter().zip(&sweep) {
        println!(
            "  min confidence {t:>3}: precision {:.3} recall {:.3}",
            tally.precision(),
            tally.recall()
        );
    }
    println!("\nrecall by logo width (1280-wide frame, scenes with one logo):");
    for ((lo, hi), (n, hits)) in WIDTHS.iter().zip(by_width) {
        if n > 0 {
            let range = if *hi == f32::MAX {
                format!("{lo:.0} px and wider")
            } else {
                format!("{lo:.0}-{hi:.0} px")
            };
            println!("  {range}: {:.3} ({hits} of {n})", hits as f64 / n as f64);
        }
    }
    print_times(times, "frame");
    Ok(())
}

/// The real-photo mode (`--real-photos`): see the module's doc.
fn real_photos(
    dir: &std::path::Path,
    params: detector::Params,
    reading: Option<detector::Reading>,
    products: usize,
    list: bool,
    xfeat: Option<std::sync::Arc<detector::xfeat::XFeat>>,
    only: Option<Vec<String>>,
) -> anyhow::Result<()> {
    use detector_eval::real_photos::{self as real, Counts, Form, Half, Kind};
    use std::collections::BTreeMap;
    let set = real::load(dir)?;
    let brands: Vec<String> = {
        let mut b: Vec<String> = set.references.iter().map(|r| r.label.clone()).collect();
        b.dedup();
        b
    };
    let mut references = set.references.clone();
    references.extend(made_up_references(products.saturating_sub(brands.len())));
    let mut detector = detector::BuiltinDetector::with_params(references, params)?;
    if let Some(net) = xfeat {
        detector = detector.with_learned_features(net);
    }
    if reading.is_some() {
        let reader = detector::text::TextReader::load(&detector::text::default_models_dir())?;
        let wordmarks = real::WORDMARKS
            .iter()
            .map(|(label, word)| detector::text::Wordmark::new(label, word))
            .collect::<Result<Vec<_>, _>>()?;
        detector = detector.with_wordmarks(std::sync::Arc::new(reader), wordmarks);
    }
    println!(
        "built-in detector on the real-photo set {} ({} photos); references: {}",
        set.dir.display(),
        set.photos.len(),
        reference_names(&set.references)
    );
    println!(
        "{} products in the catalog; min confidence {DEFAULT_MIN_CONFIDENCE}; wordmark signal: {}\n",
        products.max(brands.len()),
        match reading {
            Some(r) => format!("on, read {r:?}"),
            None => "off (--no-text)".into(),
        }
    );
    let thresholds: Vec<f32> = (0..=18).map(|k| 10.0 + 5.0 * k as f32).collect();
    // Every figure is kept per half: (half, group) -> counts.
    let mut forms: BTreeMap<(Half, String), Counts> = BTreeMap::new();
    let mut by_brand: BTreeMap<(Half, String), Counts> = BTreeMap::new();
    let mut by_width: BTreeMap<(Half, usize), Counts> = BTreeMap::new();
    let mut by_condition: BTreeMap<(Half, &str), Counts> = BTreeMap::new();
    let mut sweep: BTreeMap<(Half, usize), Counts> = BTreeMap::new();
    let mut times = Vec::new();
    for photo in &set.photos {
        // `--only p003,n005`: those photos, from the tuning half only.
        if let Some(only) = &only {
            let stem = photo
                .name
                .rsplit('/')
                .next()
                .unwrap_or("")
                .split('.')
                .next()
                .unwrap_or("");
            if photo.half != Half::Tuning || !only.iter().any(|o| o == stem) {
                continue;
            }
        }
        let bytes = std::fs::read(&photo.file)
            .with_context(|| format!("reading {}", photo.file.display()))?;
        let frame = gray::decode(&bytes).with_context(|| photo.file.display().to_string())?;
        let started = Instant::now();
        let candidates = detector.candidates(&frame);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let at = |t: f32| -> Vec<String> {
            candidates
                .iter()
                .filter(|c| c.confidence >= t)
                .map(|c| c.label.clone())
                .collect()
        };
        let reported = at(DEFAULT_MIN_CONFIDENCE);
        let counts = real::score(&reported, &photo.labels);
        let h = photo.half;
        // The target is scored on logos and negatives together; variants
        // and objects apart.
        let form = match (photo.kind, photo.form) {
            (Kind::Positive, Some(Form::Logo)) => "logo",
            (Kind::Positive, Some(Form::Variant)) => "variant",
            (Kind::Positive, Some(Form::Object)) => "object",
            (Kind::Positive, None) => "logo",
            (Kind::Negative, _) => "negative",
            (Kind::HardNegative, _) => "hard negative",
        };
        forms.entry((h, form.into())).or_default().add(counts);
        let on_target = matches!(form, "logo" | "negative" | "hard negative");
        if on_target {
            for (k, t) in thresholds.iter().enumerate() {
                sweep
                    .entry((h, k))
                    .or_default()
                    .add(real::score(&at(*t), &photo.labels));
            }
        }
        if form == "logo" {
            for label in &photo.labels {
                let one = real::score(
                    &reported
                        .iter()
                        .filter(|r| *r == label)
                        .cloned()
                        .collect::<Vec<_>>(),
                    std::slice::from_ref(label),
                );
                by_brand.entry((h, label.clone())).or_default().add(one);
            }
            if let Some(k) = real::WIDTHS
                .iter()
                .position(|(lo, hi)| (*lo..*hi).contains(&photo.logo_width))
            {
                by_width.entry((h, k)).or_default().add(counts);
            }
            for g in photo.condition_groups() {
                by_condition.entry((h, g)).or_default().add(counts);
            }
        }
        if on_target {
            // False labels, per brand reported.
            for r in reported.iter().filter(|r| !photo.labels.contains(r)) {
                by_brand.entry((h, r.clone())).or_default().false_positives += 1;
            }
        }
        if list && h == Half::Tuning {
            let shown: Vec<String> = candidates
                .iter()
                .map(|c| {
                    format!(
                        "{} {:.0}{}{}",
                        c.label,
                        c.confidence,
                        c.keypoints
                            .map_or(String::new(), |k| format!(" k{:.0}", k.confidence)),
                        c.text
                            .map_or(String::new(), |t| format!(" t{:.0}", t.confidence))
                    )
                })
                .collect();
            println!(
                "{:<18} {:<14} {:<8} {:>5} px  {}  found: [{}]  {}",
                photo.name,
                photo.labels.join(","),
                form,
                photo.logo_width,
                if counts.false_positives > 0 {
                    "FALSE"
                } else if counts.false_negatives > 0 {
                    "miss "
                } else {
                    "ok   "
                },
                shown.join("; "),
                photo.condition
            );
        }
    }
    if list {
        println!();
    }
    let halves = [Half::Tuning, Half::HeldOut];
    let pr = |c: &Counts| {
        format!(
            "{:.3} | {:.3} | {} | {} | {}",
            c.precision(),
            c.recall(),
            c.true_positives,
            c.false_positives,
            c.false_negatives
        )
    };
    println!("target: logos (form = logo) and negatives together");
    println!("| half | precision | recall | TP | FP | FN | photos with a false label |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut both = Counts::default();
    for h in halves {
        let mut c = Counts::default();
        for form in ["logo", "negative", "hard negative"] {
            c.add(forms.get(&(h, form.into())).copied().unwrap_or_default());
        }
        both.add(c);
        println!(
            "| {} | {} | {} |",
            h.name(),
            pr(&c),
            c.photos_with_false_labels
        );
    }
    println!(
        "| **both** | {} | {} |\n",
        pr(&both),
        both.photos_with_false_labels
    );
    let table = |title: &str, rows: Vec<(String, [Counts; 2])>| {
        println!("{title}");
        println!("| | tuning P / R (TP, FP, FN) | held-out P / R (TP, FP, FN) |");
        println!("| --- | --- | --- |");
        for (name, c) in rows {
            let cell = |c: &Counts| {
                format!(
                    "{:.2} / {:.2} ({}, {}, {})",
                    c.precision(),
                    c.recall(),
                    c.true_positives,
                    c.false_positives,
                    c.false_negatives
                )
            };
            println!("| {name} | {} | {} |", cell(&c[0]), cell(&c[1]));
        }
        println!();
    };
    let get2 = |f: &dyn Fn(Half) -> Counts| [f(Half::Tuning), f(Half::HeldOut)];
    table(
        "by form (variants and objects are a stretch, scored apart):",
        ["logo", "variant", "object", "negative", "hard negative"]
            .iter()
            .map(|f| {
                (
                    f.to_string(),
                    get2(&|h| forms.get(&(h, f.to_string())).copied().unwrap_or_default()),
                )
            })
            .collect(),
    );
    table(
        "logos by brand (false labels: on logos and negatives):",
        brands
            .iter()
            .map(|b| {
                (
                    b.clone(),
                    get2(&|h| by_brand.get(&(h, b.clone())).copied().unwrap_or_default()),
                )
            })
            .collect(),
    );
    table(
        "logos by width (largest instance, pixels of the file):",
        real::WIDTHS
            .iter()
            .enumerate()
            .map(|(k, (lo, hi))| {
                let name = if *hi == u32::MAX {
                    format!("{lo} px and wider")
                } else {
                    format!("{lo}-{hi} px")
                };
                (
                    name,
                    get2(&|h| by_width.get(&(h, k)).copied().unwrap_or_default()),
                )
            })
            .collect(),
    );
    table(
        "logos by condition (a photo may fall in several):",
        real::CONDITION_GROUPS
            .iter()
            .map(|(g, _)| *g)
            .chain(["other"])
            .map(|g| {
                (
                    g.to_string(),
                    get2(&|h| by_condition.get(&(h, g)).copied().unwrap_or_default()),
                )
            })
            .collect(),
    );
    println!("threshold sweep (logos and negatives), tuning | held-out:");
    for (k, t) in thresholds.iter().enumerate() {
        let [a, b] = get2(&|h| sweep.get(&(h, k)).copied().unwrap_or_default());
        println!(
            "  min confidence {t:>3}: precision {:.3} recall {:.3} | precision {:.3} recall {:.3}",
            a.precision(),
            a.recall(),
            b.precision(),
            b.recall()
        );
    }
    print_times(times, "photo");
    Ok(())
}

/// The detection times' percentiles (ms, one per `unit`) and the peak RSS.
fn print_times(mut times: Vec<f64>, unit: &str) {
    if times.is_empty() {
        println!("\nno {unit} analysed");
        return;
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "\ndetection time per {unit} (one thread, decode excluded): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} {unit}s; peak RSS {:.0} MiB",
        pct(0.5),
        pct(0.95),
        pct(1.0),
        times.len(),
        detector_eval::memory::peak_rss_mib()
    );
}

/// Lambda's list prices for arm64 (us-east-1, the same since 2021; check
/// <https://aws.amazon.com/lambda/pricing/> before quoting) and how the
/// stack runs on-thumbnail with the built-in detector.
struct LambdaPricing {
    per_gb_second: f64,
    per_request: f64,
    /// The stack's memory for on-thumbnail with the built-in detector
    /// (infra/lib/constructs/decision-functions.ts): 1769 MB, one full vCPU.
    memory_gb: f64,
    /// Billed time per invocation besides decoding and detecting: the
    /// thumbnail's S3 read, the state table's transaction and PutMetadata.
    /// An allowance, not a measurement.
    calls_seconds: f64,
}

const LAMBDA_ARM64: LambdaPricing = LambdaPricing {
    per_gb_second: 0.000_013_333_4,
    per_request: 0.000_000_2,
    memory_gb: 1769.0 / 1024.0,
    calls_seconds: 0.1,
};

impl LambdaPricing {
    /// Dollars per channel-hour with a thumbnail every `interval` seconds
    /// and `seconds` of decoding and detecting each.
    fn per_channel_hour(&self, interval: f64, seconds: f64) -> f64 {
        let invocations = 3600.0 / interval;
        invocations
            * ((seconds + self.calls_seconds) * self.memory_gb * self.per_gb_second
                + self.per_request)
    }
}

/// `--budget`: issue 28's budget table (see the module's doc).
fn budget(per_condition: u64) -> anyhow::Result<()> {
    let set = eval_set()?;
    println!(
        "detector budget: generated 1280x720 frames, {per_condition} per condition ({} frames a catalog size), wordmarks read, one thread, decode included\n",
        per_condition as usize * Condition::ALL.len()
    );
    println!("| products | start-up (references analysed, text models loaded) | p50 a frame | p95 a frame | budget p95 | peak memory | budget memory | mean a frame | Lambda $ per channel-hour (5 s) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (products, budget_p95) in [(2usize, "400 ms"), (20, "1 s"), (100, "-")] {
        let mut references = set.references.clone();
        references.extend(made_up_references(products.saturating_sub(2)));
        let resettable = detector_eval::memory::reset_peak_rss();
        let started = Instant::now();
        let detector = seed_detector(references, detector::Params::default(), true)?;
        let start_up = started.elapsed().as_secs_f64() * 1000.0;
        let mut times = Vec::new();
        for condition in Condition::ALL {
            for i in 0..per_condition {
                let s = scene(condition, i, &set.positives, &set.others);
                let started = Instant::now();
                let frame = gray::decode(&s.jpeg)?;
                std::hint::black_box(detector.detect(&frame, DEFAULT_MIN_CONFIDENCE));
                times.push(started.elapsed().as_secs_f64());
            }
        }
        let peak = if resettable {
            detector_eval::memory::peak_rss_since_reset_mib()
        } else {
            None
        }
        .map_or("(not measurable here)".to_owned(), |m| {
            format!("{m:.0} MiB")
        });
        drop(detector);
        let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize] * 1000.0;
        println!(
            "| {products} | {start_up:.0} ms | {:.0} ms | {:.0} ms | {budget_p95} | {peak} | {} | {:.0} ms | ${:.4} (${:.4} at twice the time) |",
            pct(0.5),
            pct(0.95),
            if products == 100 { "1 GB" } else { "-" },
            mean * 1000.0,
            LAMBDA_ARM64.per_channel_hour(5.0, mean),
            LAMBDA_ARM64.per_channel_hour(5.0, 2.0 * mean),
        );
    }
    println!(
        "\nLambda pricing model: arm64 ${} per GB-second and ${} per request, {:.0} MB (the stack's on-thumbnail), {} s billed per call besides decode and detection (S3 read, state transaction, PutMetadata: an allowance), 720 thumbnails an hour; \"twice the time\" allows for a Lambda core slower than this machine's.",
        LAMBDA_ARM64.per_gb_second,
        LAMBDA_ARM64.per_request,
        LAMBDA_ARM64.memory_gb * 1024.0,
        LAMBDA_ARM64.calls_seconds
    );
    println!("Budgets (issue 28): start-up with the models within a 3 s cold start; p95 400 ms (2 products), 1 s (20); 1 GB with 100 products; $0.02 per channel-hour.");
    Ok(())
}

/// "label=file, ..." for the references' header line.
fn reference_names(references: &[detector::Reference]) -> String {
    references
        .iter()
        .map(|r| {
            let file = r.source.rsplit('/').next().unwrap_or(&r.source);
            format!("{}={file}", r.label)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pricing_model_gives_the_issues_figure_for_a_second_a_frame() {
        // Issue 28: one second of detection a frame at 5 s thumbnails, on
        // 1.77 GB arm64, is about $0.017 per channel-hour.
        let bare = LambdaPricing {
            calls_seconds: 0.0,
            ..LAMBDA_ARM64
        };
        let dollars = bare.per_channel_hour(5.0, 1.0);
        assert!((dollars - 0.0167).abs() < 0.0005, "{dollars}");
        // The allowance for the calls is billed on top, and a thumbnail
        // twice as often costs twice as much.
        assert!(LAMBDA_ARM64.per_channel_hour(5.0, 1.0) > dollars);
        let twice = bare.per_channel_hour(2.5, 1.0);
        assert!((twice - 2.0 * dollars).abs() < 1e-9);
    }
}
