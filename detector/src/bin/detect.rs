//! `detect`: runs the built-in detector on image files, for evaluation and for
//! operators tuning thresholds. One JSON line per image on stdout:
//! `{"image": "<path as given>", "labels": [{"name", "confidence", "box"}]}`.

use anyhow::{bail, Context};
use clap::Parser;
use detector::{gray, load_reference, BuiltinDetector, DEFAULT_MIN_CONFIDENCE};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Finds the reference logos in images with the built-in detector; prints one JSON line per image."
)]
struct Args {
    /// A reference image of a label, as LABEL=IMAGE; repeat for more images
    /// or labels.
    #[arg(long = "reference", value_name = "LABEL=IMAGE", required = true)]
    references: Vec<String>,
    /// List labels from this confidence (0 to 100).
    #[arg(long, default_value_t = DEFAULT_MIN_CONFIDENCE)]
    min_confidence: f32,
    /// Also list every candidate below --min-confidence on stderr.
    #[arg(long)]
    verbose: bool,
    /// Images to analyse (PNG, JPEG or WebP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

fn references(args: &Args) -> anyhow::Result<BuiltinDetector> {
    let mut refs = Vec::new();
    for spec in &args.references {
        let Some((label, path)) = spec.split_once('=') else {
            bail!(
                "--reference {spec:?} is not LABEL=IMAGE; write e.g. --reference aws=logos/aws.png"
            );
        };
        if label.trim().is_empty() || path.is_empty() {
            bail!("--reference {spec:?} needs both a label and an image path (LABEL=IMAGE)");
        }
        refs.push(load_reference(label.trim(), path.as_ref())?);
    }
    Ok(BuiltinDetector::new(refs)?)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(0.0..=100.0).contains(&args.min_confidence) {
        eprintln!(
            "detect: --min-confidence must be from 0 to 100, not {}",
            args.min_confidence
        );
        return ExitCode::from(2);
    }
    let detector = match references(&args).context("cannot use the references") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("detect: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut failed = 0;
    let stdout = std::io::stdout();
    for path in &args.images {
        let shown = path.display().to_string();
        let frame = match std::fs::read(path)
            .map_err(|e| format!("cannot read the file: {e}"))
            .and_then(|bytes| gray::decode(&bytes).map_err(|e| e.to_string()))
        {
            Ok(f) => f,
            Err(e) => {
                eprintln!("detect: {shown}: {e}");
                failed += 1;
                continue;
            }
        };
        let candidates = detector.candidates(&frame);
        if args.verbose {
            for c in candidates
                .iter()
                .filter(|c| c.confidence < args.min_confidence)
            {
                eprintln!(
                    "detect: {shown}: {} below threshold at {:.1} ({} inliers)",
                    c.label, c.confidence, c.inliers
                );
            }
        }
        let labels: Vec<_> = candidates
            .iter()
            .filter(|c| c.confidence >= args.min_confidence)
            .map(|c| {
                json!({
                    "name": c.label,
                    "confidence": (c.confidence * 10.0).round() / 10.0,
                    "box": {"left": c.bbox[0], "top": c.bbox[1], "width": c.bbox[2], "height": c.bbox[3]},
                })
            })
            .collect();
        let line = json!({"image": shown, "labels": labels});
        if writeln!(stdout.lock(), "{line}").is_err() {
            return ExitCode::from(1);
        }
    }
    if failed > 0 {
        eprintln!(
            "detect: {failed} of {} image(s) could not be analysed",
            args.images.len()
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
