//! `detect`: runs the built-in detector on image files, for evaluation and for
//! operators tuning thresholds. One JSON line per image on stdout:
//! `{"image": "<path as given>", "labels": [{"name", "confidence", "box"}]}`.

use anyhow::{bail, Context};
use clap::Parser;
use detector::text::{self, Wordmark};
use detector::{gray, BuiltinDetector, Reference, DEFAULT_MIN_CONFIDENCE};
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
    /// The brand name a label's logo spells, as LABEL=WORD (e.g. aws=aws):
    /// the text in each image is read and matched against it, as a second
    /// signal beside the reference images.
    #[arg(long = "wordmark", value_name = "LABEL=WORD")]
    wordmarks: Vec<String>,
    /// Where the text models are (default: $DETECTOR_TEXT_MODELS, else the
    /// checkout's .cache/text-models, filled by scripts/setup.sh).
    #[arg(long, value_name = "DIR")]
    text_models: Option<PathBuf>,
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
        refs.push(Reference::load(label.trim(), path.as_ref())?);
    }
    let detector = BuiltinDetector::new(refs)?;
    let mut wordmarks = Vec::new();
    for spec in &args.wordmarks {
        let Some((label, word)) = spec.split_once('=') else {
            bail!("--wordmark {spec:?} is not LABEL=WORD; write e.g. --wordmark aws=aws");
        };
        wordmarks.push(Wordmark::new(label.trim(), word)?);
    }
    if wordmarks.is_empty() {
        return Ok(detector);
    }
    let dir = args
        .text_models
        .clone()
        .unwrap_or_else(text::default_models_dir);
    let reader = text::TextReader::load(&dir)?;
    Ok(detector.with_wordmarks(std::sync::Arc::new(reader), wordmarks))
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
                    "box": {"left": c.bbox.left, "top": c.bbox.top, "width": c.bbox.width, "height": c.bbox.height},
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
