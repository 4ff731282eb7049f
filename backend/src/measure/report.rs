//! The counters per show and hour, and the report in its three formats.

use super::*;

/// Counters per show: what the report and the dashboard read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ShowCounts {
    pub channel: String,
    pub product: String,
    pub show: u64,
    /// The replays' counts of the show (a row of its own), not live.
    pub replay: bool,
    /// When the first event of the show arrived (Unix seconds).
    pub first_at: UnixSeconds,
    pub impressions: u64,
    pub viewable: u64,
    pub opens: u64,
    pub scans: u64,
    pub dismisses: u64,
    /// The player's own open beacons (the report's opens are the redirects).
    pub open_beacons: u64,
    /// Invalid traffic recorded for the show and not counted above: robots'
    /// events and viewables without an impression ([`Recorded::invalid`]).
    pub invalid: u64,
}

impl ShowCounts {
    /// The report's order, in both homes: newest show first, then channel
    /// and product, and a show's live row before its replay row.
    pub fn report_order(a: &Self, b: &Self) -> std::cmp::Ordering {
        b.show
            .cmp(&a.show)
            .then_with(|| a.channel.cmp(&b.channel))
            .then_with(|| a.product.cmp(&b.product))
            .then_with(|| a.replay.cmp(&b.replay))
    }

    /// Adds to `counter`'s field (its audience is the row's).
    pub fn add_counter(&mut self, counter: Counter, n: u64) {
        match counter.measure {
            Some(m) => self.add(m, n),
            None => self.invalid += n,
        }
    }

    /// The count of `counter`'s field.
    pub fn counter(&self, counter: Counter) -> u64 {
        counter.measure.map_or(self.invalid, |m| self.get(m))
    }

    pub fn add(&mut self, measure: Measure, n: u64) {
        let field = match measure {
            Measure::Impression => &mut self.impressions,
            Measure::Viewable => &mut self.viewable,
            Measure::Open => &mut self.open_beacons,
            Measure::Dismiss => &mut self.dismisses,
            Measure::Click => &mut self.opens,
            Measure::Scan => &mut self.scans,
        };
        *field += n;
    }

    /// The counter of one measure.
    pub fn get(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Impression => self.impressions,
            Measure::Viewable => self.viewable,
            Measure::Open => self.open_beacons,
            Measure::Dismiss => self.dismisses,
            Measure::Click => self.opens,
            Measure::Scan => self.scans,
        }
    }

    /// Viewable impressions per impression.
    pub fn view_rate(&self) -> f64 {
        ratio(self.viewable, self.impressions)
    }

    /// (opens + scans) per impression.
    pub fn click_through_rate(&self) -> f64 {
        ratio(self.opens + self.scans, self.impressions)
    }

    /// The share of invalid traffic (filtered out of every count) among
    /// the events the report shows, as MRC asks a report to state:
    /// invalid / (impressions + viewable + opens + scans + invalid), so a
    /// report row alone gives it.
    pub fn invalid_share(&self) -> f64 {
        let counted = self.impressions + self.viewable + self.opens + self.scans;
        ratio(self.invalid, counted + self.invalid)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Counted events per hour and product, for the dashboard's charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourCount {
    pub hour: String,
    pub channel: String,
    pub product: String,
    pub measure: Measure,
    /// Counted in replays (apart from live); absent for live.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
    pub count: u64,
}

/// The report's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

impl ReportFormat {
    /// The format a report API's `format=` names (JSON when absent), or the
    /// refusal to answer with.
    pub fn from_query(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("json") {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            "table" => Ok(Self::Table),
            other => Err(format!("format {other:?} is not one of json, csv, table")),
        }
    }

    /// The Content-Type of a report in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Table => "text/plain; charset=utf-8",
        }
    }
}

/// One row of the report, with the rates worked out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    pub channel: String,
    pub product: String,
    pub show: u64,
    /// `live`, or `replay`: the show's replays, counted apart.
    pub audience: &'static str,
    pub impressions: u64,
    pub viewable: u64,
    pub view_rate: f64,
    pub opens: u64,
    pub scans: u64,
    pub click_through_rate: f64,
    /// Invalid traffic filtered out (robots, viewables without an
    /// impression), and its share of all events recorded for the show.
    pub invalid: u64,
    pub invalid_share: f64,
}

impl From<&ShowCounts> for ReportRow {
    fn from(c: &ShowCounts) -> Self {
        Self {
            channel: c.channel.clone(),
            product: c.product.clone(),
            show: c.show,
            audience: if c.replay { "replay" } else { "live" },
            impressions: c.impressions,
            viewable: c.viewable,
            view_rate: round4(c.view_rate()),
            opens: c.opens,
            scans: c.scans,
            click_through_rate: round4(c.click_through_rate()),
            invalid: c.invalid,
            invalid_share: round4(c.invalid_share()),
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

const REPORT_COLUMNS: [&str; 12] = [
    "channel",
    "product",
    "show",
    "audience",
    "impressions",
    "viewable",
    "view_rate",
    "opens",
    "scans",
    "click_through_rate",
    "invalid",
    "invalid_share",
];

impl ReportRow {
    fn cells(&self) -> [String; REPORT_COLUMNS.len()] {
        [
            self.channel.clone(),
            self.product.clone(),
            self.show.to_string(),
            self.audience.to_owned(),
            self.impressions.to_string(),
            self.viewable.to_string(),
            format!("{:.4}", self.view_rate),
            self.opens.to_string(),
            self.scans.to_string(),
            format!("{:.4}", self.click_through_rate),
            self.invalid.to_string(),
            format!("{:.4}", self.invalid_share),
        ]
    }
}

/// The report per channel, product and show, in `format`.
pub fn render_report(shows: &[ShowCounts], format: ReportFormat) -> String {
    let rows: Vec<ReportRow> = shows.iter().map(ReportRow::from).collect();
    match format {
        ReportFormat::Json => serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n",
        ReportFormat::Csv => {
            let mut out = REPORT_COLUMNS.join(",") + "\n";
            for row in &rows {
                // Ids are tokens (no comma, quote or newline), numbers are
                // numbers: nothing needs quoting.
                out.push_str(&row.cells().join(","));
                out.push('\n');
            }
            out
        }
        ReportFormat::Table => {
            let cells: Vec<[String; REPORT_COLUMNS.len()]> =
                rows.iter().map(ReportRow::cells).collect();
            let widths: Vec<usize> = (0..REPORT_COLUMNS.len())
                .map(|i| {
                    cells
                        .iter()
                        .map(|c| c[i].len())
                        .chain([REPORT_COLUMNS[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |values: Vec<&str>| {
                let mut out = String::new();
                for (i, v) in values.iter().enumerate() {
                    // Text left, numbers right.
                    if i < 2 || i == 3 {
                        out.push_str(&format!("{v:<w$}  ", w = widths[i]));
                    } else {
                        out.push_str(&format!("{v:>w$}  ", w = widths[i]));
                    }
                }
                out.trim_end().to_owned() + "\n"
            };
            let mut out = line(REPORT_COLUMNS.to_vec());
            for c in &cells {
                out.push_str(&line(c.iter().map(String::as_str).collect()));
            }
            if rows.is_empty() {
                out.push_str("(no shows measured yet)\n");
            }
            out
        }
    }
}
