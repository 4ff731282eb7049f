//! What the studio's tests share: a raw HTTP client (a browser's or a
//! hostile client's requests, byte for byte) and the HLS segment readers
//! (PMT, PES units, the timed-ID3 stream's TXXX values).
#![allow(dead_code)] // each test binary uses its own part

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;
use studio::ts::{self, PACKET_SIZE};

pub fn segment_dir(playlist_path: &str) -> String {
    // Segment URIs are relative to the playlist: `<channel-id>/<n>.ts`.
    let dir = playlist_path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{dir}/LocalStudio1")
}

pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A blocking HTTP/1.1 GET (the studio sends Content-Length bodies).
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Response> {
    request(port, "GET", path, headers, b"")
}

/// A blocking HTTP/1.1 request as a browser or a hostile client could send
/// it; Host is 127.0.0.1:port unless `headers` names one.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<Response> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    // The server may answer (and close) before it has read a large body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
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

/// Sends `signal` to process `pid` (a negative pid: its process group).
#[allow(unsafe_code)]
pub fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes any pid and signal; the worst case is an error.
    unsafe { libc::kill(pid, signal) };
}
