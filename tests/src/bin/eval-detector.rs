//! Evaluates the built-in detector on the generated scene set: precision and
//! recall per condition, the precision/recall trade-off over thresholds, and
//! the time per frame (one thread) and peak memory.
//!
//! `cargo run --release -p e2e-tests --bin eval-detector -- [SCENES_PER_CONDITION] [--products N] [--only a,b] [--save DIR]`
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
//! `--only` keeps the conditions named (their names in lower case, as
//! `--save` writes them: `tiny,recoloured,lookalike`).
//!
//! `--products N` adds made-up brands to the references so the catalog has
//! N products (the two seed labels plus N - 2 that never appear), for the
//! speed and memory figures with a bigger catalog.

use anyhow::Context;
use detector::{gray, Found, Signal, DEFAULT_MIN_CONFIDENCE};
use e2e_tests::scenes::{
    eval_set, made_up_references, scene, score, seed_detector, Condition, Tally,
};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    // `RUST_LOG=detector=trace` prints where each frame's time goes.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let mut per_condition = 40u64;
    let mut save = None;
    let mut products = 2usize;
    let mut only: Option<Vec<String>> = None;
    let mut reading = Some(detector::Reading::default());
    let mut small_logos = true;
    while let Some(a) = args.next() {
        match a.as_str() {
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
                    .with_context(|| format!("{n:?} is not a number of scenes"))?
            }
        }
    }
    let set = eval_set()?;
    let mut references = set.references.clone();
    references.extend(made_up_references(products.saturating_sub(2)));
    let params = detector::Params {
        reading: reading.unwrap_or_default(),
        small_logos,
        ..detector::Params::default()
    };
    let detector = seed_detector(references, params, reading.is_some())?;
    println!(
        "built-in detector on {} generated 1280x720 scenes per condition; references: {}",
        per_condition,
        set.references
            .iter()
            .map(|r| format!("{}={}", r.0, r.1.rsplit('/').next().unwrap_or(&r.1)))
            .collect::<Vec<_>>()
            .join(", ")
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
                    .map(|c| (c.label.clone(), c.bbox))
                    .collect();
                sweep[k].add(score(&found, &s.truth));
            }
            let found: Vec<_> = candidates
                .iter()
                .filter(|c| c.confidence >= DEFAULT_MIN_CONFIDENCE)
                .map(|c| (c.label.clone(), c.bbox))
                .collect();
            tally.add(score(&found, &s.truth));
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
                    .filter_map(|c| signal(c).map(|(conf, bbox)| (c.label.clone(), conf, bbox)))
                    .filter(|(_, conf, _)| *conf >= DEFAULT_MIN_CONFIDENCE)
                    .map(|(label, _, bbox)| (label, bbox))
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
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "\ndetection time per frame (one thread, decode excluded): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} frames; peak RSS {:.0} MiB",
        pct(0.5),
        pct(0.95),
        pct(1.0),
        times.len(),
        e2e_tests::peak_rss_mib()
    );
    Ok(())
}
