//! The process's peak memory, for the detector's and the backend's
//! benchmarks (Linux).

/// The process's peak resident memory so far, in MiB.
#[allow(unsafe_code)]
pub fn peak_rss_mib() -> f64 {
    // SAFETY: getrusage writes into the struct we own; all-zero bytes are a
    // valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

/// Starts a new peak-memory measurement: the kernel's high-water mark of
/// this process's resident set is set back to what it holds now (Linux's
/// `clear_refs`); [`peak_rss_since_reset_mib`] reads it. Returns whether the
/// kernel took it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The resident set's high-water mark since [`reset_peak_rss`] (or the
/// process's start), from `/proc/self/status`; `None` where there is none.
pub fn peak_rss_since_reset_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
