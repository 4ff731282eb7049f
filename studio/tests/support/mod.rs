//! What the studio's tests share beyond `test-support`: the HLS segment
//! readers (PMT, PES units, the timed-ID3 stream's TXXX values).
#![allow(dead_code)] // each test binary uses its own part

use studio::ts::{self, PACKET_SIZE};

pub fn segment_dir(playlist_path: &str) -> String {
    // Segment URIs are relative to the playlist: `<channel-id>/<n>.ts`.
    let dir = playlist_path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{dir}/LocalStudio1")
}

/// Every TXXX value in a segment's timed-ID3 stream (the PID the PMT lists
/// with stream_type 0x15).
pub fn id3_values(segment: &[u8]) -> anyhow::Result<Vec<String>> {
    let pmt = segment_pmt(segment)?;
    let Some(id3) = pmt.streams.iter().find(|s| s.stream_type == 0x15) else {
        return Ok(vec![]);
    };
    let mut values = Vec::new();
    for pes in pes_units(segment, id3.pid)? {
        let start = ts::parse_pes_start(&pes).ok_or_else(|| anyhow::anyhow!("bad PES header"))?;
        let tag_len = start.packet_length as usize - 3 - pes[8] as usize;
        let tag = &start.data[..tag_len];
        for f in studio::id3::parse_txxx(tag)? {
            values.push(f.value);
        }
    }
    Ok(values)
}

pub fn segment_pmt(segment: &[u8]) -> anyhow::Result<ts::Pmt> {
    anyhow::ensure!(segment.len() >= 2 * PACKET_SIZE, "segment too short");
    let pat = &segment[..PACKET_SIZE];
    anyhow::ensure!(
        ts::parse_header(pat)?.pid == ts::PAT_PID,
        "a segment starts with the PAT"
    );
    let pmt_pid = ts::parse_pat(ts::payload(pat)?)?.pmt_pid;
    let pmt = &segment[PACKET_SIZE..2 * PACKET_SIZE];
    anyhow::ensure!(ts::parse_header(pmt)?.pid == pmt_pid, "then the PMT");
    Ok(ts::parse_pmt(ts::payload(pmt)?)?)
}

/// The PES packets of one PID, reassembled.
pub fn pes_units(segment: &[u8], pid: ts::Pid) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut units: Vec<Vec<u8>> = Vec::new();
    for p in segment.chunks(PACKET_SIZE) {
        let h = ts::parse_header(p)?;
        if h.pid != pid {
            continue;
        }
        if h.unit_start {
            units.push(Vec::new());
        }
        if let Some(u) = units.last_mut() {
            u.extend_from_slice(ts::payload(p)?);
        }
    }
    Ok(units)
}

/// The segment numbers a live playlist lists.
pub fn segment_numbers(playlist: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(playlist)
        .lines()
        .filter_map(|l| l.strip_suffix(".ts"))
        .filter_map(|l| l.rsplit('/').next()?.parse().ok())
        .collect()
}
