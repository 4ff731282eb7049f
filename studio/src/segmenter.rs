//! Cuts ffmpeg's continuous MPEG-TS output into HLS segments and weaves the
//! accepted cues into them as a timed-ID3 stream.
//!
//! Each segment starts at a video keyframe with our own PAT and a PMT that
//! adds the timed-ID3 stream (`stream_type` 0x15 with its metadata
//! descriptors) to ffmpeg's program. A cue accepted by PutMetadata is written
//! before the next packet as a PES whose PTS is the latest video PTS: the
//! frame that was live when the cue was accepted. Pure and synchronous: the
//! caller feeds packets and cues and collects finished segments.

use crate::id3;
use crate::ts::{
    self, ContinuityCounter, Pid, Pmt, PmtStream, Program, TsError, PACKET_SIZE, PAT_PID, PTS_HZ,
};
use std::collections::VecDeque;

/// A finished segment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub data: Vec<u8>,
    pub duration_secs: f64,
    /// The first segment after ffmpeg (re)started: the timeline jumps.
    pub discontinuity: bool,
    /// The cues written into it, in order.
    pub cues: Vec<String>,
    /// Where each cue's ID3 frame sits, in seconds from the segment's start.
    pub cue_secs: Vec<f64>,
    pub first_pts: u64,
}

struct Open {
    data: Vec<u8>,
    start_pts: u64,
    /// Where the current stretch of continuous timestamps began, and the
    /// ticks of video before it: a clock step inside the segment (the source
    /// clock jumped) restarts the stretch instead of inflating the duration.
    stretch_pts: u64,
    ticks_before_stretch: u64,
    discontinuity: bool,
    cues: Vec<String>,
    cue_secs: Vec<f64>,
}

impl Open {
    /// Ticks of video from the segment's start to `pts`.
    fn elapsed(&self, pts: u64) -> u64 {
        self.ticks_before_stretch + ts::pts_delta(self.stretch_pts, pts)
    }
}

/// Consecutive video timestamps further apart than this, either way, are a
/// clock step, not frames (B-frame reordering moves a few frames back; a
/// frame is at most a second or so long).
const MAX_PTS_STEP: u64 = 5 * PTS_HZ;

/// Owner id of the PRIV frame opening every segment's timed-ID3 stream.
pub const SEGMENT_MARKER_OWNER: &str = "studio.ivs-ad.local/segment";

/// The timed-ID3 stream's PID when ffmpeg's program leaves it free.
const PREFERRED_ID3_PID: Pid = match Pid::new(0x0102) {
    Some(pid) => pid,
    None => Pid::PAT,
};

/// ffmpeg's program map with our timed-ID3 stream added, and which of its
/// streams is the video (the segmenter cuts at its keyframes).
struct ProgramMap {
    pmt: Pmt,
    video_pid: Pid,
    video_type: u8,
}

pub struct Segmenter {
    target_ticks: u64,
    program: Option<Program>,
    map: Option<ProgramMap>,
    id3_pid: Pid,
    pat_cc: ContinuityCounter,
    pmt_cc: ContinuityCounter,
    id3_cc: ContinuityCounter,
    last_video_pts: Option<u64>,
    open: Option<Open>,
    pending: VecDeque<String>,
    next_is_discontinuity: bool,
}

impl Segmenter {
    pub fn new(target_secs: f64) -> Self {
        Self {
            target_ticks: (target_secs * PTS_HZ as f64) as u64,
            program: None,
            map: None,
            id3_pid: PREFERRED_ID3_PID,
            pat_cc: ContinuityCounter::default(),
            pmt_cc: ContinuityCounter::default(),
            id3_cc: ContinuityCounter::default(),
            last_video_pts: None,
            open: None,
            pending: VecDeque::new(),
            next_is_discontinuity: false,
        }
    }

    /// True once a segment is being written: a cue queued now goes out.
    pub fn is_live(&self) -> bool {
        self.open.is_some()
    }

    /// The segment being written, so far, and the seconds of video in it up
    /// to the start of its newest frame (which may not be complete yet): the
    /// freshest picture of the stream, for thumbnails.
    pub fn open_so_far(&self) -> Option<(Vec<u8>, f64)> {
        let open = self.open.as_ref()?;
        let last = self.last_video_pts?;
        Some((open.data.clone(), open.elapsed(last) as f64 / PTS_HZ as f64))
    }

    /// Queues a cue for the segment being written (or, between an ffmpeg
    /// exit and its restart, for the first segment after it).
    pub fn push_cue(&mut self, text: String) {
        self.pending.push_back(text);
    }

    /// The input ended (ffmpeg exited). The partial segment is dropped: its
    /// last frames may be cut mid-picture. The next stream is a new timeline.
    pub fn restart(&mut self) {
        self.program = None;
        self.map = None;
        self.last_video_pts = None;
        self.open = None;
        self.next_is_discontinuity = true;
    }

    /// Feeds one 188-byte packet; returns a segment when this packet closed
    /// one. Packets that are not valid TS are refused with an error and
    /// change nothing.
    pub fn push_packet(&mut self, packet: &[u8]) -> Result<Option<Segment>, TsError> {
        let header = ts::parse_header(packet)?;
        // Cues go in before this packet, stamped with the frame live so far.
        self.write_pending_cues();
        if header.pid == PAT_PID {
            if header.unit_start {
                self.program = Some(ts::parse_pat(ts::payload(packet)?)?);
            }
            return Ok(None);
        }
        let Some(program) = self.program else {
            return Ok(None);
        };
        if header.pid == program.pmt_pid {
            if header.unit_start {
                let source = ts::parse_pmt(ts::payload(packet)?)?;
                self.adopt_pmt(program.number, source);
            }
            return Ok(None);
        }
        let Some(map) = &self.map else {
            return Ok(None);
        };
        let (video_pid, video_type) = (map.video_pid, map.video_type);
        let listed = map.pmt.streams.iter().any(|s| s.pid == header.pid);
        if !listed || header.pid == self.id3_pid {
            // SDT and anything else ffmpeg writes that the program does not list.
            return Ok(None);
        }

        let mut finished = None;
        if header.pid == video_pid && header.unit_start {
            let body = ts::payload(packet)?;
            if let Some(pes) = ts::parse_pes_start(body) {
                if let Some(pts) = pes.pts {
                    self.note_clock_step(pts);
                    let keyframe =
                        header.random_access || ts::starts_keyframe(video_type, pes.data);
                    if keyframe {
                        finished = self.maybe_cut(pts);
                    }
                    self.last_video_pts = Some(pts);
                }
            }
        }
        if let Some(open) = self.open.as_mut() {
            open.data.extend_from_slice(packet);
        }
        Ok(finished)
    }

    fn adopt_pmt(&mut self, program_number: u16, mut pmt: Pmt) {
        let Some(video) = pmt
            .streams
            .iter()
            .find(|s| matches!(s.stream_type, ts::STREAM_TYPE_H264 | ts::STREAM_TYPE_H265))
        else {
            return;
        };
        let (video_pid, video_type) = (video.pid, video.stream_type);
        // A PID the program does not use; 0x0102 unless taken.
        let mut id3_pid = PREFERRED_ID3_PID;
        while pmt.streams.iter().any(|s| s.pid == id3_pid) || pmt.pcr_pid == id3_pid {
            let Some(next) = id3_pid.next() else {
                tracing::warn!("the program uses every PID above 0x0102; no timed ID3 stream");
                return;
            };
            id3_pid = next;
        }
        self.id3_pid = id3_pid;
        pmt.program_number = program_number;
        pmt.program_info
            .extend_from_slice(&ts::id3_metadata_pointer_descriptor(program_number));
        pmt.streams.push(PmtStream {
            stream_type: ts::STREAM_TYPE_METADATA_PES,
            pid: id3_pid,
            es_info: ts::id3_metadata_descriptor(),
        });
        self.map = Some(ProgramMap {
            pmt,
            video_pid,
            video_type,
        });
    }

    /// A video timestamp far from the previous one: the source's clock
    /// stepped (back or forward). The open segment keeps the video it had and
    /// measures on from `pts`; the next segment is marked discontinuous. A
    /// duration from the raw difference would be up to 26 hours (the PTS
    /// wraps), and would raise EXT-X-TARGETDURATION for good.
    fn note_clock_step(&mut self, pts: u64) {
        let (Some(last), Some(open)) = (self.last_video_pts, self.open.as_mut()) else {
            return;
        };
        let gap = ts::pts_delta(last, pts).min(ts::pts_delta(pts, last));
        if gap > MAX_PTS_STEP.max(self.target_ticks) {
            tracing::warn!(
                from = last,
                to = pts,
                "video clock stepped; the next segment starts a new timeline"
            );
            open.ticks_before_stretch = open.elapsed(last);
            open.stretch_pts = pts;
            self.next_is_discontinuity = true;
        }
    }

    /// At a keyframe: closes the open segment when it is long enough, and
    /// opens the next one with PAT and PMT.
    fn maybe_cut(&mut self, pts: u64) -> Option<Segment> {
        // A keyframe a little early still cuts: encoders round frame times.
        let slack = PTS_HZ / 10;
        let finished = match self.open.take() {
            Some(open) if open.elapsed(pts) + slack >= self.target_ticks => Some(Segment {
                duration_secs: open.elapsed(pts) as f64 / PTS_HZ as f64,
                data: open.data,
                discontinuity: open.discontinuity,
                cues: open.cues,
                cue_secs: open.cue_secs,
                first_pts: open.start_pts,
            }),
            Some(open) => {
                self.open = Some(open);
                return None;
            }
            None => None,
        };
        let map = self.map.as_ref()?;
        let program = self.program?;
        let mut data = Vec::with_capacity(512 * PACKET_SIZE);
        data.extend_from_slice(&ts::psi_packet(
            PAT_PID,
            self.pat_cc.take(),
            &ts::pat_section(program),
        ));
        data.extend_from_slice(&ts::psi_packet(
            program.pmt_pid,
            self.pmt_cc.take(),
            &ts::pmt_section(&map.pmt),
        ));
        // Every segment carries timed ID3, as IVS's do: the IVS web player
        // stalls on segments whose declared metadata stream is empty
        // (measured: it then never appends video). A PRIV frame is not a
        // text cue, so players surface nothing for it.
        let marker = ts::pes_with_pts(
            ts::STREAM_ID_PRIVATE_1,
            pts,
            &id3::priv_tag(SEGMENT_MARKER_OWNER, &pts.to_be_bytes()),
        );
        for p in ts::packetize_pes(self.id3_pid, &mut self.id3_cc, &marker) {
            data.extend_from_slice(&p);
        }
        self.open = Some(Open {
            data,
            start_pts: pts,
            stretch_pts: pts,
            ticks_before_stretch: 0,
            discontinuity: std::mem::take(&mut self.next_is_discontinuity),
            cues: Vec::new(),
            cue_secs: Vec::new(),
        });
        finished
    }

    fn write_pending_cues(&mut self) {
        let (Some(open), Some(pts)) = (self.open.as_mut(), self.last_video_pts) else {
            return;
        };
        while let Some(cue) = self.pending.pop_front() {
            let pes = ts::pes_with_pts(ts::STREAM_ID_PRIVATE_1, pts, &id3::txxx_tag("", &cue));
            for p in ts::packetize_pes(self.id3_pid, &mut self.id3_cc, &pes) {
                open.data.extend_from_slice(&p);
            }
            open.cues.push(cue);
            open.cue_secs.push(open.elapsed(pts) as f64 / PTS_HZ as f64);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ts::{parse_header, payload, STREAM_TYPE_H264};

    fn pid(value: u16) -> Pid {
        Pid::new(value).unwrap()
    }

    const VIDEO: Pid = match Pid::new(0x100) {
        Some(p) => p,
        None => Pid::PAT,
    };
    const AUDIO: Pid = match Pid::new(0x101) {
        Some(p) => p,
        None => Pid::PAT,
    };

    /// A synthetic ffmpeg-like stream: PAT, PMT, then video PES starts every
    /// 1/30 s (a keyframe every `gop` frames) and an audio packet each frame.
    pub(crate) struct FakeEncoder {
        frame: u64,
        gop: u64,
        cc: [ContinuityCounter; 2],
        /// Added to every timestamp from now on (a clock step).
        step: i64,
    }

    impl FakeEncoder {
        pub(crate) fn new(gop: u64) -> Self {
            Self {
                frame: 0,
                gop,
                cc: [ContinuityCounter::default(); 2],
                step: 0,
            }
        }

        pub(crate) fn headers() -> Vec<[u8; PACKET_SIZE]> {
            let pmt = Pmt {
                program_number: 1,
                pcr_pid: VIDEO,
                program_info: vec![],
                streams: vec![
                    PmtStream {
                        stream_type: STREAM_TYPE_H264,
                        pid: VIDEO,
                        es_info: vec![],
                    },
                    PmtStream {
                        stream_type: 0x0F,
                        pid: AUDIO,
                        es_info: vec![],
                    },
                ],
            };
            vec![
                ts::psi_packet(
                    PAT_PID,
                    ContinuityCounter::default(),
                    &ts::pat_section(Program {
                        number: 1,
                        pmt_pid: pid(0x1000),
                    }),
                ),
                ts::psi_packet(
                    pid(0x1000),
                    ContinuityCounter::default(),
                    &ts::pmt_section(&pmt),
                ),
                // An SDT, which the segmenter drops.
                ts::psi_packet(pid(0x11), ContinuityCounter::default(), &[0x42, 0xF0, 0x00]),
            ]
        }

        pub(crate) fn next_frame(&mut self) -> Vec<[u8; PACKET_SIZE]> {
            let key = self.frame.is_multiple_of(self.gop);
            let pts = (126_000 + self.frame as i64 * 3000 + self.step).rem_euclid(1 << 33) as u64;
            let nal: &[u8] = if key {
                &[0, 0, 0, 1, 0x65, 0x88]
            } else {
                &[0, 0, 0, 1, 0x41, 0x9A]
            };
            let mut es = nal.to_vec();
            es.resize(400, 0xAB);
            let pes = ts::pes_with_pts(0xE0, pts, &es);
            let mut packets = ts::packetize_pes(VIDEO, &mut self.cc[0], &pes);
            let audio = ts::pes_with_pts(0xC0, pts, &[0x55; 100]);
            packets.extend(ts::packetize_pes(AUDIO, &mut self.cc[1], &audio));
            self.frame += 1;
            packets
        }
    }

    fn run(seg: &mut Segmenter, enc: &mut FakeEncoder, frames: usize) -> Vec<Segment> {
        let mut out = Vec::new();
        for _ in 0..frames {
            for p in enc.next_frame() {
                if let Some(s) = seg.push_packet(&p).unwrap() {
                    out.push(s);
                }
            }
        }
        out
    }

    fn start(seg: &mut Segmenter) {
        for p in FakeEncoder::headers() {
            assert!(seg.push_packet(&p).unwrap().is_none());
        }
    }

    #[test]
    fn segments_start_at_keyframes_and_last_the_target() {
        let mut seg = Segmenter::new(2.0);
        let mut enc = FakeEncoder::new(60);
        start(&mut seg);
        assert!(!seg.is_live());
        let segments = run(&mut seg, &mut enc, 60 * 4 + 1);
        assert!(seg.is_live());
        assert_eq!(segments.len(), 4);
        for s in &segments {
            assert!((s.duration_secs - 2.0).abs() < 1e-9);
            assert_eq!(s.data.len() % PACKET_SIZE, 0);
            let first = parse_header(&s.data[..PACKET_SIZE]).unwrap();
            assert_eq!(first.pid, PAT_PID);
            let pmt =
                ts::parse_pmt(payload(&s.data[PACKET_SIZE..2 * PACKET_SIZE]).unwrap()).unwrap();
            let id3 = pmt.streams.iter().find(|s| s.stream_type == 0x15).unwrap();
            assert_eq!(id3.pid, PREFERRED_ID3_PID);
            assert_eq!(id3.es_info, ts::id3_metadata_descriptor());
            assert!(!s
                .data
                .chunks(PACKET_SIZE)
                .any(|p| parse_header(p).unwrap().pid == pid(0x11)));
        }
    }

    #[test]
    fn a_cue_goes_into_the_open_segment_at_the_live_pts() {
        let mut seg = Segmenter::new(2.0);
        let mut enc = FakeEncoder::new(60);
        start(&mut seg);
        run(&mut seg, &mut enc, 10);
        seg.push_cue("hello".into());
        let segments = run(&mut seg, &mut enc, 60);
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].cues, vec!["hello".to_string()]);
        let id3_packets: Vec<&[u8]> = segments[0]
            .data
            .chunks(PACKET_SIZE)
            .filter(|p| parse_header(p).unwrap().pid == PREFERRED_ID3_PID)
            .collect();
        // The segment's PRIV marker, then the cue.
        assert_eq!(id3_packets.len(), 2);
        let marker = ts::parse_pes_start(payload(id3_packets[0]).unwrap()).unwrap();
        assert_eq!(marker.pts, Some(segments[0].first_pts));
        let pes = ts::parse_pes_start(payload(id3_packets[1]).unwrap()).unwrap();
        // The tenth frame (index 9) was the live one.
        assert_eq!(pes.pts, Some(126_000 + 9 * 3000));
        let tag_len = pes.packet_length as usize - 8;
        let frames = id3::parse_txxx(&pes.data[..tag_len]).unwrap();
        assert_eq!(frames[0].value, "hello");
    }

    #[test]
    fn cues_wait_across_a_restart_and_the_next_segment_is_a_discontinuity() {
        let mut seg = Segmenter::new(2.0);
        let mut enc = FakeEncoder::new(60);
        start(&mut seg);
        run(&mut seg, &mut enc, 30);
        seg.restart();
        assert!(!seg.is_live());
        seg.push_cue("kept".into());
        let mut enc = FakeEncoder::new(60);
        start(&mut seg);
        let segments = run(&mut seg, &mut enc, 121);
        assert_eq!(segments.len(), 2);
        assert!(segments[0].discontinuity);
        assert!(!segments[1].discontinuity);
        assert_eq!(segments[0].cues, vec!["kept".to_string()]);
    }

    #[test]
    fn a_clock_step_neither_inflates_a_segment_nor_the_target_duration() {
        // The source clock steps back an hour mid-GOP, then forward a day:
        // without care the segment around each step would last ~26 h (the
        // PTS wraps) or a day, and TARGETDURATION would grow for good.
        for step in [-3600 * PTS_HZ as i64, 86_400 * PTS_HZ as i64] {
            let mut seg = Segmenter::new(2.0);
            let mut enc = FakeEncoder::new(60);
            start(&mut seg);
            let mut segments = run(&mut seg, &mut enc, 60 * 2 + 30);
            enc.step = step;
            segments.extend(run(&mut seg, &mut enc, 60 * 3 + 1));
            assert_eq!(segments.len(), 5, "{step}");
            for s in &segments {
                assert!(
                    (s.duration_secs - 2.0).abs() < 0.05,
                    "step {step}: a segment of {} s",
                    s.duration_secs
                );
            }
            // The segment after the one holding the step starts a new timeline.
            let flags: Vec<bool> = segments.iter().map(|s| s.discontinuity).collect();
            assert_eq!(flags, [false, false, false, true, false], "step {step}");
            let mut playlist = crate::hls::Playlist::new(6, 2.0);
            for s in segments {
                playlist.add(s, std::time::SystemTime::now());
            }
            assert!(
                playlist.render().contains("#EXT-X-TARGETDURATION:2\n"),
                "{}",
                playlist.render()
            );
        }
    }

    #[test]
    fn our_continuity_counters_run_on_across_segments() {
        let mut seg = Segmenter::new(2.0);
        let mut enc = FakeEncoder::new(60);
        start(&mut seg);
        let mut all = Vec::new();
        for i in 0..20 {
            seg.push_cue(format!("cue {i}"));
            all.extend(run(&mut seg, &mut enc, 30));
        }
        let mut last: std::collections::HashMap<Pid, ContinuityCounter> = Default::default();
        for s in &all {
            for p in s.data.chunks(PACKET_SIZE) {
                let h = parse_header(p).unwrap();
                if let Some(prev) = last.insert(h.pid, h.continuity_counter) {
                    assert_eq!(h.continuity_counter, prev.next(), "pid {:?}", h.pid);
                }
            }
        }
        assert!(last.contains_key(&PREFERRED_ID3_PID));
    }

    #[test]
    fn nothing_is_output_before_pat_pmt_and_a_keyframe() {
        let mut seg = Segmenter::new(2.0);
        let mut enc = FakeEncoder::new(60);
        assert!(run(&mut seg, &mut enc, 200).is_empty(), "no PAT yet");
        assert!(!seg.is_live());
        assert!(seg.push_packet(&[0u8; 10]).is_err());
    }
}
