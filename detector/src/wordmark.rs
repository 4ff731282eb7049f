//! The second signal (feature `text`): the catalog's wordmarks read in the
//! frame, where the keypoint path places a reference or over the whole
//! frame ([`Reading`]), and fused with the keypoint path's findings.

use crate::fusion::{fuse, Found, Signal};
use crate::gray::Gray;
use crate::keypoints::{KeypointFindings, Placement};
use crate::ratio_box::RatioBox;
use crate::reference::AnalysedReference;
use crate::text::{self, WordmarkRead};
use crate::{Reading, DEFAULT_MIN_CONFIDENCE};

/// The second signal's state: the reader, the catalog's wordmarks, and
/// where each reference has its label's wordmark written.
pub(crate) struct WordmarkSignal {
    pub reader: std::sync::Arc<text::TextReader>,
    pub wordmarks: Vec<text::Wordmark>,
    /// Per reference (same order): the box (reference pixels) of the line
    /// that reads as its label's wordmark, when the reference has one.
    pub written: Vec<Option<[f32; 4]>>,
}

impl WordmarkSignal {
    /// Finds where each reference shows its label's wordmark, once.
    pub fn new(
        reader: std::sync::Arc<text::TextReader>,
        wordmarks: Vec<text::Wordmark>,
        references: &[AnalysedReference],
    ) -> Self {
        let written = references
            .iter()
            .map(|r| {
                let wordmark = wordmarks.iter().find(|w| w.label == r.label)?;
                let found = reader.find_in_reference(&r.image, wordmark);
                if found.is_none() {
                    tracing::info!(label = %r.label, wordmark = %wordmark.spelled, "the wordmark is not legible in this reference: it is looked for in the whole frame instead");
                }
                found
            })
            .collect();
        Self {
            reader,
            wordmarks,
            written,
        }
    }

    /// The keypoint path's findings and the wordmarks read, fused: one
    /// [`Found`] per label either signal found.
    pub fn fuse_with(
        &self,
        frame: &Gray,
        keypoints: KeypointFindings,
        references: &[AnalysedReference],
        reading: Reading,
    ) -> Vec<Found> {
        let found = keypoints.best;
        let read = self.read(frame, &found, &keypoints.placements, references, reading);
        let label_of = |r: &WordmarkRead| self.wordmarks[r.wordmark].label.as_str();
        let mut labels: Vec<&str> = found.iter().map(|f| f.label.as_str()).collect();
        labels.extend(read.iter().map(label_of));
        labels.sort_unstable();
        labels.dedup();
        labels
            .iter()
            .filter_map(|&label| {
                let k = found.iter().find(|f| f.label == label);
                let t = read
                    .iter()
                    .filter(|r| label_of(r) == label)
                    .max_by(|a, b| a.signal.confidence.total_cmp(&b.signal.confidence))
                    .map(|r| r.signal);
                fuse(
                    label,
                    k.and_then(|k| k.keypoints),
                    t,
                    k.map_or(0, |k| k.inliers),
                )
            })
            .collect()
    }

    /// The wordmarks read in `frame`, one per wordmark at most.
    ///
    /// A wordmark the keypoint path already found at the default threshold
    /// is not read: reading could only raise a verdict already reached. The
    /// others are read where the keypoint path places one of their
    /// references, straight out of the word's box in that reference mapped
    /// through the placement (so a rotated or tilted word is read upright),
    /// most inliers first: one short line instead of the text detector over
    /// the whole frame and its lines (docs/figures.md gives both times). A
    /// wordmark whose references do not show it legibly (or that has none)
    /// is looked for in the whole frame, as before: the catalog may name a
    /// product by its word alone.
    fn read(
        &self,
        frame: &Gray,
        found: &[Found],
        placements: &[Placement],
        references: &[AnalysedReference],
        reading: Reading,
    ) -> Vec<WordmarkRead> {
        let mut read = Vec::new();
        let mut whole_frame = Vec::new();
        // One per wordmark: its placement with the most inliers, and the
        // word's box in that placement's reference.
        let mut to_read: Vec<(usize, &Placement, [f32; 4])> = Vec::new();
        for (i, wordmark) in self.wordmarks.iter().enumerate() {
            let sure = found
                .iter()
                .any(|f| f.label == wordmark.label && f.confidence >= DEFAULT_MIN_CONFIDENCE);
            if sure && reading == Reading::WherePlaced {
                continue;
            }
            let legible = |r: usize| {
                references.get(r).is_some_and(|r| r.label == wordmark.label)
                    && self.written.get(r).is_some_and(Option::is_some)
            };
            if reading == Reading::WholeFrame || !(0..references.len()).any(legible) {
                whole_frame.push(i);
                continue;
            }
            let best = placements
                .iter()
                .filter(|p| legible(p.reference))
                .max_by_key(|p| p.inliers);
            if let Some((placement, Some(word))) = best.map(|p| (p, self.written[p.reference])) {
                to_read.push((i, placement, word));
            }
        }
        // Bounded like the whole-frame path: the best-placed first, until
        // the recogniser's budget for a frame is spent.
        to_read.sort_by_key(|r| std::cmp::Reverse(r.1.inliers));
        let mut budget = text::READ_BUDGET;
        for (i, placement, word) in to_read {
            let cost = self.reader.width_for(text::line_length(word[2], word[3]));
            if cost > budget {
                continue;
            }
            budget -= cost;
            if let Some(signal) = self.read_placed(frame, &self.wordmarks[i], placement, word) {
                read.push(WordmarkRead {
                    wordmark: i,
                    signal,
                });
            }
        }
        if !whole_frame.is_empty() {
            let wanted: Vec<&text::Wordmark> =
                whole_frame.iter().map(|&i| &self.wordmarks[i]).collect();
            for found in text::find_wordmarks(&self.reader, &wanted, frame) {
                read.push(WordmarkRead {
                    wordmark: whole_frame[found.wordmark],
                    ..found
                });
            }
        }
        read
    }

    /// Reads the reference's word box `word` where `placement` puts it in the
    /// frame: the wordmark's confidence and box, if it reads as the
    /// wordmark.
    fn read_placed(
        &self,
        frame: &Gray,
        wordmark: &text::Wordmark,
        placement: &Placement,
        word: [f32; 4],
    ) -> Option<Signal> {
        let [bx, by, bw, bh] = word.map(f64::from);
        let h = &placement.h;
        let corners = [(bx, by), (bx + bw, by), (bx + bw, by + bh), (bx, by + bh)]
            .map(|(x, y)| h.apply(x, y));
        let [Some(tl), Some(tr), Some(br), Some(bl)] = corners else {
            return None;
        };
        let high = ((bl.0 - tl.0).hypot(bl.1 - tl.1) + (br.0 - tr.0).hypot(br.1 - tr.1)) / 2.0;
        let long = ((tr.0 - tl.0).hypot(tr.1 - tl.1) + (br.0 - bl.0).hypot(br.1 - bl.1)) / 2.0;
        // A word under 6 px high cannot be read, and one larger than the
        // frame is a wrong placement.
        if !(6.0..=frame.h as f64).contains(&high) || long > 2.0 * frame.w as f64 {
            return None;
        }
        let line_h = text::REC_H as f64;
        let want = text::line_length(word[2], word[3]);
        let (kx, ky) = (bw / want as f64, bh / line_h);
        let step = (high / line_h).max(long / want as f64) as f32;
        let chars = self.reader.read_line(frame, want, step, |x, y| {
            h.apply(bx + x as f64 * kx - 0.5, by + y as f64 * ky - 0.5)
                .map_or((-1.0, -1.0), |(x, y)| (x as f32, y as f32))
        })?;
        let line = text::TextLine {
            chars,
            bbox: RatioBox::default(),
        };
        tracing::trace!(label = %wordmark.label, text = %line.text(), inliers = placement.inliers, "read where the keypoints place the logo");
        Some(Signal {
            confidence: wordmark.matched_in(&line)?,
            bbox: RatioBox::around(&[tl, tr, br, bl], frame.w as f64, frame.h as f64)?,
        })
    }
}
