//! The live media playlist: a sliding window over the last segments.

use crate::civil::Utc;
use crate::segmenter::Segment;
use axum::body::Bytes;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::SystemTime;

/// A segment as served.
#[derive(Debug, Clone)]
pub struct Listed {
    pub sequence: u64,
    pub duration_secs: f64,
    pub discontinuity: bool,
    /// Wall-clock time of the segment's first frame (when it was cut, less
    /// its duration).
    pub program_date_time: SystemTime,
    pub data: Bytes,
    pub cues: Vec<String>,
}

pub struct Playlist {
    /// Segments listed in the playlist.
    window: usize,
    /// Segments kept for players a little behind the window.
    keep: usize,
    segments: VecDeque<Listed>,
    next_sequence: u64,
    /// Discontinuity tags on segments already dropped from memory.
    dropped_discontinuities: u64,
    target_duration: u32,
}

impl Playlist {
    pub fn new(window: usize, target_secs: f64) -> Self {
        Self {
            window,
            keep: window + 4,
            segments: VecDeque::new(),
            next_sequence: 0,
            dropped_discontinuities: 0,
            target_duration: target_secs.ceil() as u32,
        }
    }

    /// Adds a finished segment; returns its sequence number.
    pub fn add(&mut self, segment: Segment, finished_at: SystemTime) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.target_duration = self
            .target_duration
            .max(segment.duration_secs.round() as u32);
        let started = finished_at
            .checked_sub(std::time::Duration::from_secs_f64(segment.duration_secs))
            .unwrap_or(finished_at);
        self.segments.push_back(Listed {
            sequence,
            duration_secs: segment.duration_secs,
            discontinuity: segment.discontinuity,
            program_date_time: started,
            data: Bytes::from(segment.data),
            cues: segment.cues,
        });
        while self.segments.len() > self.keep {
            if self.segments.pop_front().is_some_and(|s| s.discontinuity) {
                self.dropped_discontinuities += 1;
            }
        }
        sequence
    }

    fn listed(&self) -> impl Iterator<Item = &Listed> {
        let skip = self.segments.len().saturating_sub(self.window);
        self.segments.iter().skip(skip)
    }

    /// Discontinuity tags before the first listed segment, as HLS counts them.
    fn discontinuities_before_window(&self) -> u64 {
        let first = self
            .listed()
            .next()
            .map_or(self.next_sequence, |s| s.sequence);
        // Every segment ever added with a discontinuity and a lower sequence;
        // those dropped from memory were counted as they left.
        self.dropped_discontinuities
            + self
                .segments
                .iter()
                .filter(|s| s.sequence < first && s.discontinuity)
                .count() as u64
    }

    pub fn render(&self) -> String {
        self.render_with_prefix("")
    }

    /// The playlist text, segment URIs being `<prefix><sequence>.ts`.
    pub fn render_with_prefix(&self, prefix: &str) -> String {
        let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
        let first = self
            .listed()
            .next()
            .map_or(self.next_sequence, |s| s.sequence);
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            self.discontinuities_before_window()
        );
        for s in self.listed() {
            if s.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                Utc::from_system_time(s.program_date_time).rfc3339_millis()
            );
            let _ = writeln!(out, "#EXTINF:{:.3},", s.duration_secs);
            let _ = writeln!(out, "{prefix}{}.ts", s.sequence);
        }
        out
    }

    pub fn segment(&self, sequence: u64) -> Option<&Listed> {
        self.segments.iter().find(|s| s.sequence == sequence)
    }

    pub fn latest(&self) -> Option<&Listed> {
        self.segments.back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn segment(discontinuity: bool) -> Segment {
        Segment {
            data: vec![0x47; 188],
            duration_secs: 2.0,
            discontinuity,
            cues: vec![],
            cue_secs: vec![],
            first_pts: 0,
        }
    }

    #[test]
    fn the_window_slides_and_counts_discontinuities() {
        let mut p = Playlist::new(3, 2.0);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_795_997_100);
        assert!(p.render().contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
        for i in 0..12u64 {
            // Discontinuities at 1 and 5.
            p.add(segment(i == 1 || i == 5), t0 + Duration::from_secs(2 * i));
        }
        let text = p.render();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:9\n"), "{text}");
        assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:2\n"), "{text}");
        assert!(!text.contains("#EXT-X-DISCONTINUITY\n"));
        assert!(text.contains("#EXTINF:2.000,\n9.ts\n"));
        assert!(text.ends_with("11.ts\n"));
        assert!(
            text.contains("#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:05:16.000Z"),
            "{text}"
        );
        assert!(p.segment(5).is_some(), "kept a little behind the window");
        assert!(p.segment(4).is_none());
        assert_eq!(p.latest().map(|s| s.sequence), Some(11));
    }

    #[test]
    fn a_discontinuity_in_the_window_is_tagged() {
        let mut p = Playlist::new(3, 2.0);
        let now = SystemTime::now();
        p.add(segment(false), now);
        p.add(segment(true), now);
        let text = p.render();
        assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:0\n"));
        assert!(text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"));
    }
}
