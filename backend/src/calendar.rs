//! Time as the backend and the studio count it: Unix seconds, UTC days and
//! hours, and the civil calendar (small enough not to pull in a date crate).
//! One place, so the studio's clock and measurement's days agree.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in whole seconds.
pub type UnixSeconds = u64;

/// Seconds in a UTC day.
pub const DAY_SECONDS: UnixSeconds = 86_400;

/// The wall clock in Unix seconds (0 before 1970).
pub fn unix_now() -> UnixSeconds {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The wall clock in Unix milliseconds (CloudWatch's metric timestamps).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, UTC):
/// days since 1970-01-01 to (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse: (year, month 1-12, day 1-31) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` (UTC).
pub fn day_of(at: UnixSeconds) -> String {
    let (y, m, d) = civil_from_days((at / DAY_SECONDS) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH` (UTC).
pub fn hour_of(at: UnixSeconds) -> String {
    format!("{}T{:02}", day_of(at), (at % DAY_SECONDS) / 3600)
}

/// `YYYY-MM-DD` as the Unix time of its midnight (UTC); anything else, or a
/// day that is not in the calendar (2026-02-31), is refused with the fix.
pub fn parse_day(text: &str) -> Result<UnixSeconds, String> {
    let fix = || format!("{text:?} is not a day; give it as YYYY-MM-DD, e.g. 2026-12-06");
    let mut parts = text.splitn(3, '-');
    let mut next = || parts.next().and_then(|p| p.parse::<i64>().ok());
    let (Some(y), Some(m), Some(d)) = (next(), next(), next()) else {
        return Err(fix());
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(fix());
    }
    let at = days_from_civil(y, m, d) as UnixSeconds * DAY_SECONDS;
    // It must come back as written: 2026-02-31 or 2026-1-5 do not.
    if day_of(at) != text {
        return Err(fix());
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_and_hours_read_as_utc() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(hour_of(1_790_000_000), "2026-09-21T14");
        assert_eq!(parse_day("1970-01-02"), Ok(DAY_SECONDS));
        assert_eq!(day_of(parse_day("2024-02-29").unwrap()), "2024-02-29");
        for bad in ["2026-02-31", "2026-13-01", "yesterday", "2026-1-5", ""] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn civil_dates_round_trip(days in 0i64..3_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }
}
