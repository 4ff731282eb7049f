//! The second signal: text read in the frame, matched against the catalog's
//! wordmarks. Many logos are words, and a word stays the same word when the
//! logo is inverted, recoloured, outlined, extruded or photographed at an
//! angle — the changes that defeat matching pixels to a reference.
//!
//! Reading uses PaddleOCR's PP-OCRv4 models as shipped in the PyPI wheel
//! `rapidocr-onnxruntime` (Apache-2.0): a DB text detector (a probability map
//! of "this pixel is text") and an SVTR-LCNet recogniser with CTC output.
//! They run in `tract-onnx`, pure Rust, on one core. The project fetches the
//! wheel from the registry at install time (`scripts/setup.sh`) and never
//! commits the models.
//!
//! Two ways to read, chosen by the detector per wordmark (see
//! `BuiltinDetector::candidates` and `Reading`):
//! - where the keypoint path places a reference: the line the wordmark
//!   occupies in that reference ([`TextReader::find_in_reference`], found
//!   once) is read straight out of the frame through the placement
//!   ([`TextReader::read_line`]): one recogniser run;
//! - over the whole frame, for a wordmark no reference shows legibly: the
//!   text detector sees the frame at 480x288 and only boxes whose
//!   shape could hold one of the wordmarks are read ([`find_wordmarks`]).
//!
//! Either way the recogniser's work per frame is bounded by [`READ_BUDGET`]:
//! lines are read at the narrowest of a few widths that fits them, most
//! promising first, until it is spent.

use crate::fusion::Signal;
use crate::gray::Gray;
use crate::ratio_box::RatioBox;
use crate::VisionError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_onnx::prelude::*;

/// The wheel's file names; `scripts/setup.sh` puts them in one folder.
pub const DETECTION_MODEL: &str = "ch_PP-OCRv4_det_infer.onnx";
pub const RECOGNITION_MODEL: &str = "ch_PP-OCRv4_rec_infer.onnx";

/// The text detector's input: a 16:9 frame at 3/8 of 1280x720 (both sides
/// multiples of 32, as the DB network needs). Chosen against 640x352 on
/// the evaluation set: the same fused recall at about 60% of the time
/// (docs/figures.md has the figures and their command).
const DET_W: usize = 480;
const DET_H: usize = 288;
/// A pixel is text from this probability (PaddleOCR's default).
const DET_THRESHOLD: f32 = 0.3;
/// A box is kept when its pixels' mean probability reaches this.
const BOX_THRESHOLD: f32 = 0.5;
/// How far a box grows around its core (DB's "unclip" ratio).
const UNCLIP: f32 = 1.6;
/// The recogniser's input height and the widths it is prepared for.
pub const REC_H: usize = 48;
const REC_WIDTHS: [usize; 3] = [96, 192, 320];
/// The recogniser's work per frame at most, as the sum of the widths it
/// reads at (its cost grows with width): a cluttered frame cannot cost more
/// than two full-width lines (or six short words). Chosen against four
/// lines: the same fused recall, a lower p95 (docs/figures.md).
pub const READ_BUDGET: usize = 2 * 320;

type Plan = Arc<TypedSimplePlan>;

/// How long (pixels) a line `w` x `h` is once scaled to the recogniser's
/// height.
pub fn line_length(w: f32, h: f32) -> usize {
    ((REC_H as f32 * w / h.max(1.0)).ceil() as usize).max(8)
}

/// A line of text read in the frame.
#[derive(Clone, Debug, PartialEq)]
pub struct TextLine {
    /// Each character read, with the recogniser's probability for it.
    pub chars: Vec<(char, f32)>,
    /// Where, in the frame.
    pub bbox: RatioBox,
}

impl TextLine {
    pub fn text(&self) -> String {
        self.chars.iter().map(|c| c.0).collect()
    }
}

/// The folder the models are read from: `$DETECTOR_TEXT_MODELS`, else
/// `.cache/text-models` in the checkout (where `scripts/setup.sh` puts them).
pub fn default_models_dir() -> PathBuf {
    std::env::var_os("DETECTOR_TEXT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/text-models"))
}

pub struct TextReader {
    detect: Plan,
    recognise: Vec<(usize, Plan)>,
    /// Index 0 is CTC's blank.
    charset: Vec<char>,
}

fn model_error(path: &Path, problem: impl std::fmt::Display) -> VisionError {
    VisionError::Image(format!(
        "text model {}: {problem}; run scripts/setup.sh, which fetches the models from the rapidocr-onnxruntime wheel, or set DETECTOR_TEXT_MODELS to their folder",
        path.display()
    ))
}

fn parse(path: &Path) -> Result<InferenceModel, VisionError> {
    tract_onnx::onnx()
        .model_for_path(path)
        .map_err(|e| model_error(path, e))
}

/// `model` fixed to one input shape, optimised and ready to run.
fn plan(model: InferenceModel, path: &Path, shape: [usize; 4]) -> Result<Plan, VisionError> {
    model
        .with_input_fact(0, f32::fact(shape).into())
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| model_error(path, e))
}

impl TextReader {
    /// Loads and optimises both models (about half a second; once per
    /// process).
    pub fn load(dir: &Path) -> Result<Self, VisionError> {
        let det_path = dir.join(DETECTION_MODEL);
        let rec_path = dir.join(RECOGNITION_MODEL);
        for path in [&det_path, &rec_path] {
            if !path.is_file() {
                return Err(model_error(path, "not found"));
            }
        }
        let detect = plan(parse(&det_path)?, &det_path, [1, 3, DET_H, DET_W])?;
        // Parsed once: the alphabet travels in its metadata, and each width
        // is a copy fixed to that shape.
        let raw = parse(&rec_path)?;
        let alphabet = raw
            .properties
            .get("onnx.metadata_props.character")
            .and_then(|t| t.to_plain_array_view::<String>().ok())
            .and_then(|v| v.iter().next().cloned())
            .ok_or_else(|| model_error(&rec_path, "no character list in its metadata"))?;
        let mut charset = vec!['\0'];
        charset.extend(
            alphabet
                .split('\n')
                .map(|s| s.chars().next().unwrap_or(' ')),
        );
        charset.push(' ');
        let mut recognise = Vec::new();
        for w in REC_WIDTHS {
            recognise.push((w, plan(raw.clone(), &rec_path, [1, 3, REC_H, w])?));
        }
        Ok(Self {
            detect,
            recognise,
            charset,
        })
    }

    /// Boxes of text in `frame` (frame pixels: x, y, w, h) with their mean
    /// probability, most probable first.
    pub fn find_boxes(&self, frame: &Gray) -> Vec<([f32; 4], f32)> {
        if frame.w < 8 || frame.h < 8 {
            return Vec::new();
        }
        let scale = (DET_W as f32 / frame.w as f32).min(DET_H as f32 / frame.h as f32);
        let (ow, oh) = (
            ((frame.w as f32 * scale) as usize).clamp(1, DET_W),
            ((frame.h as f32 * scale) as usize).clamp(1, DET_H),
        );
        let input = normalised(
            frame,
            [0.0, 0.0, frame.w as f32, frame.h as f32],
            (ow, oh),
            (DET_W, DET_H),
        );
        let Ok(out) = self.detect.run(tvec!(input.into())) else {
            return Vec::new();
        };
        let Some(prob) = out
            .first()
            .and_then(|t| t.to_plain_array_view::<f32>().ok())
            .and_then(|v| v.as_slice().map(<[f32]>::to_vec))
        else {
            return Vec::new();
        };
        if prob.len() != DET_W * DET_H {
            return Vec::new();
        }
        let mut boxes: Vec<([f32; 4], f32)> = components(&prob, DET_W, DET_H)
            .into_iter()
            .filter(|c| c.mean >= BOX_THRESHOLD && c.w.min(c.h) >= 3.0)
            .map(|c| {
                // DB shrinks text regions in training; grow them back by
                // area x ratio / perimeter.
                let d = c.w * c.h * UNCLIP / (2.0 * (c.w + c.h));
                let x0 = ((c.x - d) / scale).max(0.0);
                let y0 = ((c.y - d) / scale).max(0.0);
                let x1 = ((c.x + c.w + d) / scale).min(frame.w as f32);
                let y1 = ((c.y + c.h + d) / scale).min(frame.h as f32);
                ([x0, y0, x1 - x0, y1 - y0], c.mean)
            })
            .filter(|(b, _)| b[2] >= 4.0 && b[3] >= 4.0)
            .collect();
        boxes.sort_by(|a, b| b.1.total_cmp(&a.1));
        boxes
    }

    /// Reads the text in a box of `frame` (pixels: x, y, w, h).
    pub fn read_box(&self, frame: &Gray, b: [f32; 4]) -> Option<TextLine> {
        let want = line_length(b[2], b[3]);
        let (kx, ky) = (b[2] / want as f32, b[3] / REC_H as f32);
        let chars = self.read_line(frame, want, kx.max(ky), |x, y| {
            (b[0] + x * kx - 0.5, b[1] + y * ky - 0.5)
        })?;
        let (fw, fh) = (frame.w as f32, frame.h as f32);
        Some(TextLine {
            chars,
            bbox: RatioBox::of_pixels(b, fw, fh),
        })
    }

    /// The recogniser width a line `want` pixels long (at its 48 px height)
    /// is read at: the narrowest prepared width that holds it.
    pub fn width_for(&self, want: usize) -> usize {
        REC_WIDTHS
            .iter()
            .copied()
            .find(|w| *w >= want)
            .unwrap_or(REC_WIDTHS[REC_WIDTHS.len() - 1])
    }

    /// Reads one line `want` pixels long and `REC_H` high whose pixel
    /// (x, y) (pixel centres, e.g. 0.5) lies at `map(x, y)` in `frame`; `step`
    /// is how many frame pixels one line pixel spans (for supersampling when
    /// shrinking). The mapping lets a caller read a line straight out of a
    /// rotated or tilted logo.
    pub fn read_line(
        &self,
        frame: &Gray,
        want: usize,
        step: f32,
        map: impl Fn(f32, f32) -> (f32, f32),
    ) -> Option<Vec<(char, f32)>> {
        let width = self.width_for(want);
        let (width, plan) = self.recognise.iter().find(|(w, _)| *w == width)?;
        let input = sampled(frame, (want.min(*width), REC_H), (*width, REC_H), step, map);
        let out = plan.run(tvec!(input.into())).ok()?;
        let view = out.first()?.to_plain_array_view::<f32>().ok()?;
        let shape = view.shape().to_vec();
        let scores = view.as_slice()?;
        let (steps, classes) = (*shape.get(1)?, *shape.get(2)?);
        if classes != self.charset.len() || scores.len() != steps * classes {
            return None;
        }
        // CTC, greedy: the best class per step, repeats merged, blanks out.
        let mut chars = Vec::new();
        let mut last = 0;
        for row in scores.chunks_exact(classes) {
            let (k, p) =
                row.iter()
                    .enumerate()
                    .fold((0, f32::MIN), |a, (i, &p)| if p > a.1 { (i, p) } else { a });
            if k != 0 && k != last {
                chars.push((self.charset[k], p));
            }
            last = k;
        }
        Some(chars)
    }

    /// Where `wordmark` is written in a reference image: the box (pixels:
    /// x, y, w, h) of the line that reads closest to it, if one is within a
    /// letter in three of it. Found once per reference, so that a frame needs
    /// only that line read where the keypoint path places the logo (see
    /// `BuiltinDetector::candidates`). Near misses count here, unlike in a
    /// frame: the reference is the logo by the catalog's word, and the
    /// question is only where its letters are ("twiteh" in a stylised
    /// "twitch" is the word's line); the frame's reading must still spell the
    /// wordmark exactly.
    pub fn find_in_reference(&self, image: &Gray, wordmark: &Wordmark) -> Option<[f32; 4]> {
        self.find_boxes(image)
            .into_iter()
            .filter(|(b, _)| wordmark.fits(b[2], b[3]))
            .filter_map(|(b, _)| {
                let line = self.read_box(image, b)?;
                let distance = wordmark.distance(&line.text());
                tracing::debug!(label = %wordmark.label, text = %line.text(), distance, "read in the reference");
                (3 * distance <= wordmark.key.len()).then_some((b, distance))
            })
            .min_by_key(|(_, distance)| *distance)
            .map(|(b, _)| b)
    }
}

/// `region` of `frame` (x, y, w, h) resampled to `size` and placed at the
/// top left of a `canvas`-sized tensor (see [`sampled`]).
fn normalised(
    frame: &Gray,
    region: [f32; 4],
    size: (usize, usize),
    canvas: (usize, usize),
) -> Tensor {
    let [x0, y0, w, h] = region;
    let (kx, ky) = (w / size.0 as f32, h / size.1 as f32);
    sampled(frame, size, canvas, kx.max(ky), |x, y| {
        (x0 + x * kx - 0.5, y0 + y * ky - 0.5)
    })
}

/// A `size` image whose pixel centre (x, y) is `frame` at `map(x, y)`,
/// placed at the top left of a `canvas`-sized tensor, grey as three
/// channels, in [-1, 1] as PaddleOCR normalises; the rest of the canvas is 0
/// (mid grey). Supersampled when one pixel spans more than one of the
/// frame's (`step`), so thin strokes are not skipped.
fn sampled(
    frame: &Gray,
    size: (usize, usize),
    canvas: (usize, usize),
    step: f32,
    map: impl Fn(f32, f32) -> (f32, f32),
) -> Tensor {
    let (ow, oh) = size;
    let (cw, ch) = canvas;
    let n = (step.ceil() as usize).clamp(1, 4);
    let mut plane = vec![0f32; cw * ch];
    for y in 0..oh.min(ch) {
        for x in 0..ow.min(cw) {
            let mut acc = 0.0;
            for sy in 0..n {
                for sx in 0..n {
                    let (fx, fy) = map(
                        x as f32 + (sx as f32 + 0.5) / n as f32,
                        y as f32 + (sy as f32 + 0.5) / n as f32,
                    );
                    acc += clamped_sample(frame, fx, fy);
                }
            }
            plane[y * cw + x] = acc / (n * n) as f32 / 127.5 - 1.0;
        }
    }
    let mut data = Vec::with_capacity(3 * cw * ch);
    for _ in 0..3 {
        data.extend_from_slice(&plane);
    }
    // The shape matches the data by construction.
    Tensor::from_shape(&[1, 3, ch, cw], &data).unwrap_or_else(|_| Tensor::from(0f32))
}

fn clamped_sample(g: &Gray, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (g.w - 1) as f32);
    let y = y.clamp(0.0, (g.h - 1) as f32);
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(g.w - 1), (y0 + 1).min(g.h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |x: usize, y: usize| g.px[y * g.w + x] as f32;
    (p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx) * (1.0 - fy)
        + (p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx) * fy
}

struct Component {
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    mean: f32,
}

/// 4-connected regions of the probability map above the threshold.
fn components(prob: &[f32], w: usize, h: usize) -> Vec<Component> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if seen[start] || prob[start] <= DET_THRESHOLD {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        let (mut sum, mut n) = (0f32, 0usize);
        while let Some(j) = stack.pop() {
            let (x, y) = (j % w, j / w);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
            sum += prob[j];
            n += 1;
            let neighbours = [
                (x > 0).then(|| j - 1),
                (x + 1 < w).then(|| j + 1),
                (y > 0).then(|| j - w),
                (y + 1 < h).then(|| j + w),
            ];
            for k in neighbours.into_iter().flatten() {
                if !seen[k] && prob[k] > DET_THRESHOLD {
                    seen[k] = true;
                    stack.push(k);
                }
            }
        }
        out.push(Component {
            x: x0 as f32,
            y: y0 as f32,
            w: (x1 - x0 + 1) as f32,
            h: (y1 - y0 + 1) as f32,
            mean: sum / n as f32,
        });
    }
    out
}

/// A catalog wordmark, ready to match: lower-case letters and digits only.
#[derive(Clone, Debug, PartialEq)]
pub struct Wordmark {
    pub label: String,
    pub spelled: String,
    key: Vec<char>,
}

impl Wordmark {
    /// `spelled` as the catalog gives it ("AWS", "Red Bull"). Case, spaces
    /// and punctuation do not count; letters do.
    pub fn new(label: &str, spelled: &str) -> Result<Self, VisionError> {
        let key: Vec<char> = spelled
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if key.len() < 2 {
            return Err(VisionError::Reference {
                label: label.to_owned(),
                source_name: format!("wordmark {spelled:?}"),
                problem: "needs at least two letters or digits (the brand name as the logo spells it, e.g. \"aws\")".into(),
            });
        }
        Ok(Self {
            label: label.to_owned(),
            spelled: spelled.to_owned(),
            key,
        })
    }

    /// Whether a box `w` x `h` pixels could hold this word on one line:
    /// letters are from about a quarter to twice as wide as the line is high
    /// (with the box's margins). Boxes of other shapes are not read.
    pub fn fits(&self, w: f32, h: f32) -> bool {
        let n = self.key.len() as f32;
        let ratio = w / h.max(1.0);
        ratio >= 0.25 * n && ratio <= 1.5 * n + 2.0
    }

    /// Edit distance (Levenshtein) from this wordmark to the closest run of
    /// `text`'s letters and digits (case ignored), as an approximate
    /// substring match: letters around the word cost nothing.
    pub fn distance(&self, text: &str) -> usize {
        let text: Vec<char> = text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        // Sellers' algorithm: row j is the best match of key[..j] ending at
        // each text position; the first row is all zeros (start anywhere).
        let mut row = vec![0usize; text.len() + 1];
        for (j, k) in self.key.iter().enumerate() {
            let mut next = vec![j + 1; text.len() + 1];
            for (i, c) in text.iter().enumerate() {
                next[i + 1] = (row[i] + usize::from(c != k))
                    .min(row[i + 1] + 1)
                    .min(next[i] + 1);
            }
            row = next;
        }
        row.into_iter().min().unwrap_or(self.key.len())
    }

    /// The confidence (0-100) that `line` spells this wordmark: the mean
    /// probability of its letters where the line has it as a whole word (or
    /// as consecutive words, for a wordmark read with a space inside).
    /// Strict about letters: "ams" and "twitcn" are not "aws" and "twitch".
    pub fn matched_in(&self, line: &TextLine) -> Option<f32> {
        // Words: runs of letters and digits, lower-cased, with probabilities.
        let mut words: Vec<Vec<(char, f32)>> = vec![Vec::new()];
        for &(c, p) in &line.chars {
            if c.is_alphanumeric() {
                if let Some(word) = words.last_mut() {
                    word.extend(c.to_lowercase().map(|l| (l, p)));
                }
            } else if words.last().is_some_and(|w| !w.is_empty()) {
                words.push(Vec::new());
            }
        }
        let mut best: Option<f32> = None;
        for start in 0..words.len() {
            let mut run: Vec<(char, f32)> = Vec::new();
            for word in &words[start..] {
                run.extend_from_slice(word);
                if run.len() >= self.key.len() {
                    break;
                }
            }
            if run.len() == self.key.len() && run.iter().map(|c| c.0).eq(self.key.iter().copied()) {
                let p = run.iter().map(|c| c.1).sum::<f32>() / run.len() as f32;
                best = Some(best.map_or(p, |b: f32| b.max(p)));
            }
        }
        best.map(|p| (p * 100.0).clamp(0.0, 100.0))
    }
}

/// A wordmark read in the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WordmarkRead {
    /// Index into the wordmarks looked for.
    pub wordmark: usize,
    pub signal: Signal,
}

/// Reads the lines of `frame` that could hold one of `wordmarks` and returns
/// each wordmark found, at most one per wordmark, the most confident.
pub fn find_wordmarks(
    reader: &TextReader,
    wordmarks: &[&Wordmark],
    frame: &Gray,
) -> Vec<WordmarkRead> {
    if wordmarks.is_empty() {
        return Vec::new();
    }
    let started = std::time::Instant::now();
    let boxes = reader.find_boxes(frame);
    tracing::trace!(boxes = boxes.len(), took = ?started.elapsed(), "text boxes found");
    let mut found: Vec<WordmarkRead> = Vec::new();
    let mut budget = READ_BUDGET;
    let candidates = boxes
        .iter()
        .filter(|(b, _)| wordmarks.iter().any(|w| w.fits(b[2], b[3])));
    for (b, _) in candidates {
        let cost = reader.width_for(line_length(b[2], b[3]));
        if cost > budget {
            continue;
        }
        budget -= cost;
        let started = std::time::Instant::now();
        let Some(line) = reader.read_box(frame, *b) else {
            continue;
        };
        tracing::trace!(text = %line.text(), width = cost, took = ?started.elapsed(), "read");
        for (i, w) in wordmarks.iter().enumerate() {
            let Some(confidence) = w.matched_in(&line) else {
                continue;
            };
            let read = WordmarkRead {
                wordmark: i,
                signal: Signal {
                    confidence,
                    bbox: line.bbox,
                },
            };
            match found.iter_mut().find(|f| f.wordmark == i) {
                Some(f) if f.signal.confidence >= confidence => {}
                Some(f) => *f = read,
                None => found.push(read),
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> TextLine {
        TextLine {
            chars: text.chars().map(|c| (c, 0.9)).collect(),
            bbox: RatioBox::default(),
        }
    }

    #[test]
    fn wordmarks_match_whole_words_ignoring_case_and_style_only() {
        let aws = Wordmark::new("aws", "AWS").unwrap();
        for yes in [
            "aws",
            "AWS",
            "powered by aws",
            "aws.",
            "Aws re:Invent",
            "(AWS)",
        ] {
            assert!(aws.matched_in(&line(yes)).is_some(), "{yes}");
        }
        for no in ["ams", "awss", "laws", "a w", "jaws", "", "aw5"] {
            assert!(aws.matched_in(&line(no)).is_none(), "{no}");
        }
        let twitch = Wordmark::new("twitch", "twitch").unwrap();
        assert!(twitch.matched_in(&line("TWITCH")).is_some());
        assert!(twitch.matched_in(&line("twitcn")).is_none());
        assert!(twitch.matched_in(&line("twich")).is_none());
        let bull = Wordmark::new("bull", "Red Bull").unwrap();
        assert!(bull.matched_in(&line("red bull")).is_some());
        assert!(bull.matched_in(&line("RedBull")).is_some());
        assert!(bull.matched_in(&line("red bulls")).is_none());
        let c = aws.matched_in(&line("aws")).unwrap();
        assert!((c - 90.0).abs() < 0.01, "{c}");
    }

    #[test]
    fn distance_finds_the_closest_run_of_letters() {
        let twitch = Wordmark::new("twitch", "twitch").unwrap();
        assert_eq!(twitch.distance("twitch"), 0);
        assert_eq!(twitch.distance("watch twitch now"), 0);
        assert_eq!(twitch.distance("TWITEH"), 1);
        assert_eq!(twitch.distance("twich"), 1);
        assert_eq!(twitch.distance("tuftch"), 2);
        assert_eq!(twitch.distance(""), 6);
        assert_eq!(twitch.distance("xyz"), 6);
    }

    #[test]
    fn a_wordmark_needs_two_letters() {
        assert!(Wordmark::new("x", "!").is_err());
        assert!(Wordmark::new("x", "a").is_err());
        assert!(Wordmark::new("x", "3M").is_ok());
    }

    #[test]
    fn only_boxes_of_a_fitting_shape_are_read() {
        let aws = Wordmark::new("aws", "aws").unwrap();
        assert!(aws.fits(130.0, 48.0));
        assert!(!aws.fits(900.0, 40.0), "a long line is not one short word");
        assert!(!aws.fits(20.0, 100.0), "a column is not a word");
    }

    #[test]
    fn components_are_found_with_their_mean() {
        let (w, h) = (20, 10);
        let mut prob = vec![0f32; w * h];
        for y in 2..5 {
            for x in 3..9 {
                prob[y * w + x] = 0.8;
            }
        }
        prob[9 * w + 19] = 0.9;
        let c = components(&prob, w, h);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].x, c[0].y, c[0].w, c[0].h), (3.0, 2.0, 6.0, 3.0));
        assert!((c[0].mean - 0.8).abs() < 1e-6);
    }
}
