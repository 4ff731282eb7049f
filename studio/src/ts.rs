//! MPEG-TS, the few parts the studio needs: reading packets and PSI from
//! ffmpeg's output, and writing PAT, PMT and PES packets of our own.
//!
//! ffmpeg cannot write a timed-ID3 stream, and its demuxer drops five bytes of
//! each timed-ID3 payload, so the studio never lets ffmpeg touch a segment that
//! carries metadata: it writes these packets itself.

use thiserror::Error;

pub const PACKET_SIZE: usize = 188;
pub const SYNC_BYTE: u8 = 0x47;
pub const PAT_PID: Pid = Pid::PAT;
/// The clock of PTS and PCR base values.
pub const PTS_HZ: u64 = 90_000;
/// PTS values wrap at 2^33.
pub const PTS_WRAP: u64 = 1 << 33;

/// `stream_type` of metadata carried in PES packets (ISO/IEC 13818-1), which
/// HLS uses for timed ID3.
pub const STREAM_TYPE_METADATA_PES: u8 = 0x15;
pub const STREAM_TYPE_H264: u8 = 0x1B;
pub const STREAM_TYPE_H265: u8 = 0x24;
/// PES `stream_id` for timed ID3, as Apple's timed-metadata spec asks.
pub const STREAM_ID_PRIVATE_1: u8 = 0xBD;

/// A packet identifier: 13 bits, so every value this type holds fits the
/// header field it is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(u16);

impl Pid {
    pub const PAT: Pid = Pid(0x0000);
    const MASK: u16 = 0x1FFF;

    /// `value` if it fits 13 bits.
    pub const fn new(value: u16) -> Option<Pid> {
        if value <= Self::MASK {
            Some(Pid(value))
        } else {
            None
        }
    }

    /// The PID in a field's two bytes, whose top three bits are reserved.
    fn from_field(high: u8, low: u8) -> Pid {
        Pid(u16::from_be_bytes([high, low]) & Self::MASK)
    }

    pub const fn value(self) -> u16 {
        self.0
    }

    /// The next PID up, if any.
    pub fn next(self) -> Option<Pid> {
        Pid::new(self.0 + 1)
    }

    /// The PID's two bytes with the given reserved/flag bits on top.
    fn with_top_bits(self, top: u16) -> [u8; 2] {
        (top | self.0).to_be_bytes()
    }
}

/// A packet's 4-bit continuity counter, one per PID: it counts packets with a
/// payload, modulo 16, so a reader can spot a lost packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContinuityCounter(u8);

impl ContinuityCounter {
    /// The counter's low four bits of `value`.
    pub const fn new(value: u8) -> Self {
        Self(value & 0x0F)
    }

    pub const fn value(self) -> u8 {
        self.0
    }

    /// The counter of the next packet with a payload on the same PID.
    pub const fn next(self) -> Self {
        Self::new(self.0 + 1)
    }

    /// This packet's counter; the counter moves on to the next packet's.
    pub fn take(&mut self) -> Self {
        let current = *self;
        *self = current.next();
        current
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TsError {
    #[error("packet is {0} bytes, not 188")]
    BadLength(usize),
    #[error("packet does not start with the 0x47 sync byte")]
    NoSync,
    #[error("adaptation field length {0} overruns the packet")]
    BadAdaptation(usize),
    #[error("PSI section is malformed: {0}")]
    BadSection(&'static str),
    #[error("PSI section CRC does not match")]
    BadCrc,
}

/// The fixed 4-byte header of a TS packet, plus the one adaptation flag we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// payload_unit_start_indicator: a PES or a PSI section starts here.
    pub unit_start: bool,
    pub pid: Pid,
    pub continuity_counter: ContinuityCounter,
    pub has_payload: bool,
    /// The adaptation field's random_access_indicator (a keyframe starts).
    pub random_access: bool,
}

pub fn parse_header(packet: &[u8]) -> Result<PacketHeader, TsError> {
    if packet.len() != PACKET_SIZE {
        return Err(TsError::BadLength(packet.len()));
    }
    if packet[0] != SYNC_BYTE {
        return Err(TsError::NoSync);
    }
    let control = (packet[3] >> 4) & 0b11;
    let has_adaptation = control & 0b10 != 0;
    let random_access = has_adaptation && packet[4] > 0 && packet[5] & 0x40 != 0;
    Ok(PacketHeader {
        unit_start: packet[1] & 0x40 != 0,
        pid: Pid::from_field(packet[1], packet[2]),
        continuity_counter: ContinuityCounter::new(packet[3]),
        has_payload: control & 0b01 != 0,
        random_access,
    })
}

/// The payload bytes of a packet (after any adaptation field).
pub fn payload(packet: &[u8]) -> Result<&[u8], TsError> {
    let header = parse_header(packet)?;
    if !header.has_payload {
        return Ok(&[]);
    }
    let mut start = 4;
    if (packet[3] >> 5) & 1 == 1 {
        let len = packet[4] as usize;
        start = 5 + len;
        if start > PACKET_SIZE {
            return Err(TsError::BadAdaptation(len));
        }
    }
    Ok(&packet[start..])
}

/// CRC-32/MPEG-2, the checksum of PSI sections.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &byte in data {
        crc ^= (byte as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The section that starts in a PSI packet's payload (one packet holds it:
/// true of every PAT and PMT ffmpeg and the studio write).
fn section_in(payload: &[u8]) -> Result<&[u8], TsError> {
    let pointer = *payload
        .first()
        .ok_or(TsError::BadSection("empty payload"))? as usize;
    let rest = payload
        .get(1 + pointer..)
        .ok_or(TsError::BadSection("pointer field overruns the packet"))?;
    if rest.len() < 3 {
        return Err(TsError::BadSection("section header cut short"));
    }
    let length = (u16::from_be_bytes([rest[1] & 0x0F, rest[2]])) as usize;
    let section = rest
        .get(..3 + length)
        .ok_or(TsError::BadSection("section spans packets"))?;
    if length < 9 {
        return Err(TsError::BadSection("section too short"));
    }
    if crc32_mpeg2(section) != 0 {
        return Err(TsError::BadCrc);
    }
    Ok(section)
}

/// A program the PAT lists: its number and the PID of its map (PMT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    pub number: u16,
    pub pmt_pid: Pid,
}

/// The first program in a PAT packet's payload.
pub fn parse_pat(payload: &[u8]) -> Result<Program, TsError> {
    let section = section_in(payload)?;
    if section[0] != 0x00 {
        return Err(TsError::BadSection("not a PAT"));
    }
    // Programs start after the 8-byte header and end before the CRC.
    for entry in section[8..section.len() - 4].chunks_exact(4) {
        let number = u16::from_be_bytes([entry[0], entry[1]]);
        if number != 0 {
            return Ok(Program {
                number,
                pmt_pid: Pid::from_field(entry[2], entry[3]),
            });
        }
    }
    Err(TsError::BadSection("PAT lists no program"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmtStream {
    pub stream_type: u8,
    pub pid: Pid,
    pub es_info: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmt {
    pub program_number: u16,
    pub pcr_pid: Pid,
    pub program_info: Vec<u8>,
    pub streams: Vec<PmtStream>,
}

pub fn parse_pmt(payload: &[u8]) -> Result<Pmt, TsError> {
    let section = section_in(payload)?;
    if section[0] != 0x02 {
        return Err(TsError::BadSection("not a PMT"));
    }
    let body_end = section.len() - 4;
    let program_number = u16::from_be_bytes([section[3], section[4]]);
    let pcr_pid = Pid::from_field(section[8], section[9]);
    let info_len = (u16::from_be_bytes([section[10] & 0x0F, section[11]])) as usize;
    let mut at = 12 + info_len;
    let program_info = section
        .get(12..at)
        .filter(|_| at <= body_end)
        .ok_or(TsError::BadSection("program info overruns the section"))?
        .to_vec();
    let mut streams = Vec::new();
    while at + 5 <= body_end {
        let stream_type = section[at];
        let pid = Pid::from_field(section[at + 1], section[at + 2]);
        let es_len = (u16::from_be_bytes([section[at + 3] & 0x0F, section[at + 4]])) as usize;
        let es_info = section
            .get(at + 5..at + 5 + es_len)
            .filter(|_| at + 5 + es_len <= body_end)
            .ok_or(TsError::BadSection("ES info overruns the section"))?
            .to_vec();
        streams.push(PmtStream {
            stream_type,
            pid,
            es_info,
        });
        at += 5 + es_len;
    }
    Ok(Pmt {
        program_number,
        pcr_pid,
        program_info,
        streams,
    })
}

/// A complete PSI section: header, body, CRC.
fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let length = 5 + body.len() + 4; // after the length field: id..last_section, body, CRC
    let mut s = vec![table_id, 0xB0 | ((length >> 8) as u8 & 0x0F), length as u8];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&[0xC1, 0x00, 0x00]); // version 0, current, section 0 of 0
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

pub fn pat_section(program: Program) -> Vec<u8> {
    let mut body = program.number.to_be_bytes().to_vec();
    body.extend_from_slice(&program.pmt_pid.with_top_bits(0xE000));
    section(0x00, 0x0001, &body)
}

pub fn pmt_section(pmt: &Pmt) -> Vec<u8> {
    let mut body = pmt.pcr_pid.with_top_bits(0xE000).to_vec();
    body.extend_from_slice(&(0xF000 | pmt.program_info.len() as u16).to_be_bytes());
    body.extend_from_slice(&pmt.program_info);
    for s in &pmt.streams {
        body.push(s.stream_type);
        body.extend_from_slice(&s.pid.with_top_bits(0xE000));
        body.extend_from_slice(&(0xF000 | s.es_info.len() as u16).to_be_bytes());
        body.extend_from_slice(&s.es_info);
    }
    section(0x02, pmt.program_number, &body)
}

/// `metadata_pointer_descriptor` for the PMT's program info: the program
/// carries ID3 metadata (Apple, "Timed Metadata for HTTP Live Streaming").
pub fn id3_metadata_pointer_descriptor(program_number: u16) -> Vec<u8> {
    let mut d = vec![0x25, 0x0F, 0xFF, 0xFF];
    d.extend_from_slice(b"ID3 ");
    d.push(0xFF);
    d.extend_from_slice(b"ID3 ");
    d.push(0x00); // metadata_service_id
    d.push(0x1F); // no locator record, carriage in this stream, reserved bits
    d.extend_from_slice(&program_number.to_be_bytes());
    d
}

/// `metadata_descriptor` for the timed-ID3 stream's ES info.
pub fn id3_metadata_descriptor() -> Vec<u8> {
    let mut d = vec![0x26, 0x0D, 0xFF, 0xFF];
    d.extend_from_slice(b"ID3 ");
    d.push(0xFF);
    d.extend_from_slice(b"ID3 ");
    d.push(0x00); // metadata_service_id
    d.push(0x0F); // no decoder config, no DSM-CC, reserved bits
    d
}

/// A packet carrying one PSI section (pointer field 0, stuffed with 0xFF).
pub fn psi_packet(
    pid: Pid,
    continuity_counter: ContinuityCounter,
    section: &[u8],
) -> [u8; PACKET_SIZE] {
    let mut p = [0xFF; PACKET_SIZE];
    p[0] = SYNC_BYTE;
    [p[1], p[2]] = pid.with_top_bits(0x4000); // payload_unit_start
    p[3] = 0x10 | continuity_counter.value();
    p[4] = 0x00;
    let n = section.len().min(PACKET_SIZE - 5);
    p[5..5 + n].copy_from_slice(&section[..n]);
    p
}

/// The 5-byte PTS field with the given 4-bit prefix ('0010' for PTS only).
fn encode_pts(prefix: u8, pts: u64) -> [u8; 5] {
    let pts = pts % PTS_WRAP;
    [
        (prefix << 4) | (((pts >> 30) as u8 & 0x07) << 1) | 1,
        (pts >> 22) as u8,
        (((pts >> 15) as u8) << 1) | 1,
        (pts >> 7) as u8,
        ((pts as u8) << 1) | 1,
    ]
}

fn decode_pts(b: &[u8]) -> u64 {
    (((b[0] >> 1) & 0x07) as u64) << 30
        | (b[1] as u64) << 22
        | ((b[2] >> 1) as u64) << 15
        | (b[3] as u64) << 7
        | (b[4] >> 1) as u64
}

/// The parts of a PES header the studio reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PesStart<'a> {
    pub stream_id: u8,
    /// PES_packet_length (0 = unbounded, allowed for video only).
    pub packet_length: u16,
    pub data_alignment: bool,
    pub pts: Option<u64>,
    /// The elementary-stream bytes in this first packet.
    pub data: &'a [u8],
}

/// Parses the PES header at the start of a unit-start packet's payload.
pub fn parse_pes_start(payload: &[u8]) -> Option<PesStart<'_>> {
    if payload.len() < 9 || payload[..3] != [0, 0, 1] {
        return None;
    }
    let header_len = payload[8] as usize;
    let pts = if payload[7] & 0x80 != 0 && payload.len() >= 14 {
        Some(decode_pts(&payload[9..14]))
    } else {
        None
    };
    Some(PesStart {
        stream_id: payload[3],
        packet_length: u16::from_be_bytes([payload[4], payload[5]]),
        data_alignment: payload[6] & 0x04 != 0,
        pts,
        data: payload.get(9 + header_len..)?,
    })
}

/// A complete PES packet with a PTS, as timed ID3 is carried.
pub fn pes_with_pts(stream_id: u8, pts: u64, data: &[u8]) -> Vec<u8> {
    let mut pes = vec![0x00, 0x00, 0x01, stream_id];
    // 3 bytes of flags and header length, 5 of PTS, then the data.
    let length = (3 + 5 + data.len()).min(u16::MAX as usize) as u16;
    pes.extend_from_slice(&length.to_be_bytes());
    pes.push(0x84); // '10' marker, data_alignment_indicator
    pes.push(0x80); // PTS only
    pes.push(5);
    pes.extend_from_slice(&encode_pts(0b0010, pts));
    pes.extend_from_slice(data);
    pes
}

/// Splits a PES packet into TS packets on `pid`, advancing the continuity
/// counter; the last packet is padded with adaptation-field stuffing.
pub fn packetize_pes(
    pid: Pid,
    continuity_counter: &mut ContinuityCounter,
    pes: &[u8],
) -> Vec<[u8; PACKET_SIZE]> {
    let mut packets = Vec::with_capacity(pes.len() / 184 + 1);
    let mut rest = pes;
    let mut first = true;
    while first || !rest.is_empty() {
        let mut p = [0xFF; PACKET_SIZE];
        p[0] = SYNC_BYTE;
        [p[1], p[2]] = pid.with_top_bits(if first { 0x4000 } else { 0 });
        let counter = continuity_counter.take().value();
        let room = PACKET_SIZE - 4;
        let n = rest.len().min(room);
        if n == room {
            p[3] = 0x10 | counter;
            p[4..].copy_from_slice(&rest[..n]);
        } else {
            // Adaptation field of (room - n) bytes, its length byte included.
            let stuffing = room - n;
            p[3] = 0x30 | counter;
            p[4] = (stuffing - 1) as u8;
            if stuffing > 1 {
                p[5] = 0x00; // no flags; the rest stays 0xFF
            }
            p[4 + stuffing..].copy_from_slice(&rest[..n]);
        }
        packets.push(p);
        rest = &rest[n..];
        first = false;
    }
    packets
}

/// True when an H.264/H.265 access unit's first bytes hold an IDR or a
/// parameter set: a point a player can start decoding from. Used when the
/// encoder did not set random_access_indicator.
pub fn starts_keyframe(stream_type: u8, data: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let header = data[i + 3];
            let is_key = match stream_type {
                STREAM_TYPE_H264 => matches!(header & 0x1F, 5 | 7),
                STREAM_TYPE_H265 => matches!((header >> 1) & 0x3F, 16..=21 | 32..=34),
                _ => false,
            };
            if is_key {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

/// `later - earlier` in PTS ticks, across the 33-bit wrap.
pub fn pts_delta(earlier: u64, later: u64) -> u64 {
    (later + PTS_WRAP - earlier % PTS_WRAP) % PTS_WRAP
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(value: u16) -> Pid {
        Pid::new(value).unwrap()
    }

    fn program(number: u16, pmt_pid: u16) -> Program {
        Program {
            number,
            pmt_pid: pid(pmt_pid),
        }
    }

    #[test]
    fn pids_hold_13_bits_and_counters_wrap_at_16() {
        assert_eq!(Pid::new(0x1FFF).map(Pid::value), Some(0x1FFF));
        assert_eq!(Pid::new(0x2000), None);
        assert_eq!(pid(0x1FFF).next(), None);
        assert_eq!(
            Pid::from_field(0xFF, 0xFF),
            pid(0x1FFF),
            "reserved bits dropped"
        );
        let mut cc = ContinuityCounter::new(0xFF);
        assert_eq!(cc.take().value(), 15);
        assert_eq!(cc.value(), 0);
    }

    #[test]
    fn crc_of_a_known_pat_section() {
        // The PAT every ffmpeg mpegts output starts with (program 1 at 0x1000).
        let s = pat_section(program(1, 0x1000));
        assert_eq!(&s[s.len() - 4..], &[0x2A, 0xB1, 0x04, 0xB2]);
        assert_eq!(crc32_mpeg2(&s), 0, "a section with its CRC checks to 0");
    }

    #[test]
    fn pat_and_pmt_round_trip_through_packets() {
        let pat = psi_packet(
            PAT_PID,
            ContinuityCounter::new(3),
            &pat_section(program(1, 0x1000)),
        );
        let h = parse_header(&pat).unwrap();
        assert!(h.unit_start && h.pid == PAT_PID && h.continuity_counter.value() == 3);
        assert_eq!(
            parse_pat(payload(&pat).unwrap()).unwrap(),
            program(1, 0x1000)
        );

        let pmt = Pmt {
            program_number: 1,
            pcr_pid: pid(0x100),
            program_info: id3_metadata_pointer_descriptor(1),
            streams: vec![
                PmtStream {
                    stream_type: STREAM_TYPE_H264,
                    pid: pid(0x100),
                    es_info: vec![],
                },
                PmtStream {
                    stream_type: STREAM_TYPE_METADATA_PES,
                    pid: pid(0x102),
                    es_info: id3_metadata_descriptor(),
                },
            ],
        };
        let packet = psi_packet(
            pid(0x1000),
            ContinuityCounter::default(),
            &pmt_section(&pmt),
        );
        assert_eq!(parse_pmt(payload(&packet).unwrap()).unwrap(), pmt);
    }

    #[test]
    fn a_corrupted_section_is_refused() {
        let mut packet = psi_packet(
            PAT_PID,
            ContinuityCounter::default(),
            &pat_section(program(1, 0x1000)),
        );
        packet[12] ^= 0x01;
        assert_eq!(parse_pat(payload(&packet).unwrap()), Err(TsError::BadCrc));
        assert!(parse_pat(&[]).is_err());
        assert!(parse_pmt(&[0, 2, 0xB0, 0xFF]).is_err());
    }

    #[test]
    fn pes_packets_carry_the_data_pts_and_counters() {
        for len in [0usize, 1, 150, 170, 171, 183, 184, 400, 1100] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let pts = PTS_WRAP - 5;
            let pes = pes_with_pts(STREAM_ID_PRIVATE_1, pts, &data);
            let mut cc = ContinuityCounter::new(14);
            let packets = packetize_pes(pid(0x102), &mut cc, &pes);
            let mut joined = Vec::new();
            for (i, p) in packets.iter().enumerate() {
                let h = parse_header(p).unwrap();
                assert_eq!(h.pid, pid(0x102));
                assert_eq!(h.unit_start, i == 0);
                assert_eq!(h.continuity_counter.value(), ((14 + i) % 16) as u8);
                joined.extend_from_slice(payload(p).unwrap());
            }
            assert_eq!(cc.value(), ((14 + packets.len()) % 16) as u8);
            assert_eq!(joined, pes, "len {len}");
            let start = parse_pes_start(&joined).unwrap();
            assert_eq!(start.pts, Some(pts));
            assert_eq!(start.stream_id, STREAM_ID_PRIVATE_1);
            assert!(start.data_alignment);
            assert_eq!(start.packet_length as usize, pes.len() - 6);
            assert_eq!(start.data, &data[..]);
        }
    }

    #[test]
    fn keyframes_are_found_by_nal_type() {
        assert!(starts_keyframe(
            STREAM_TYPE_H264,
            &[0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x67]
        ));
        assert!(!starts_keyframe(
            STREAM_TYPE_H264,
            &[0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x41]
        ));
        assert!(!starts_keyframe(STREAM_TYPE_H264, &[0, 0]));
    }

    #[test]
    fn pts_difference_crosses_the_wrap() {
        assert_eq!(pts_delta(PTS_WRAP - 10, 20), 30);
        assert_eq!(pts_delta(100, 190), 90);
    }

    #[test]
    fn reading_never_panics_on_garbage() {
        let mut p = [0u8; PACKET_SIZE];
        p[0] = SYNC_BYTE;
        for b in 0..=255u8 {
            p[3] = b;
            p[4] = b;
            let _ = payload(&p);
            let _ = parse_pmt(&p[4..]);
            let _ = parse_pes_start(&p[b as usize % 20..]);
        }
        assert_eq!(parse_header(&p[..10]), Err(TsError::BadLength(10)));
    }
}
