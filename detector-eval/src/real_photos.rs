//! The real-photo development set (`../shared/real-photos/`, read in place,
//! never copied into the project): its labels, its references, the fixed
//! split into a tuning half and a held-out half, and image-level scoring.
//!
//! The set labels each photo with the brands it shows, not where: a photo
//! is scored by the labels the detector reports in it. A brand reported in
//! a photo that does not carry it is a false label, wherever it was placed.

use crate::scenes::Tally;
use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The set's folder: `$REAL_PHOTOS`, else `../shared/real-photos` beside
/// the checkout.
pub fn default_dir() -> PathBuf {
    std::env::var_os("REAL_PHOTOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/real-photos"))
}

/// The wordmarks a catalog of these brands would give: each brand's name as
/// its logo spells it. Go has none: "go" is a word of every slide, and the
/// Go logo's letters are its reference's own shape, which the keypoints
/// read.
pub const WORDMARKS: [(&str, &str); 5] = [
    ("docker", "docker"),
    ("github", "github"),
    ("kubernetes", "kubernetes"),
    ("python", "python"),
    ("raspberry-pi", "raspberry pi"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Positive,
    Negative,
    HardNegative,
}

/// How a positive shows its brand (the set's `form` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Form {
    /// The reference's own design: what the detector is for.
    Logo,
    /// Another 2D drawing of the mark or mascot.
    Variant,
    /// A 3D thing shaped like it (plush, cake, costume).
    Object,
}

/// Which half of the set a photo is in. The held-out half is scored, never
/// looked at photo by photo, so its figures say what tuning did not see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Half {
    Tuning,
    HeldOut,
}

impl Half {
    pub fn name(self) -> &'static str {
        match self {
            Half::Tuning => "tuning",
            Half::HeldOut => "held-out",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Photo {
    pub file: PathBuf,
    /// The file name as `labels.tsv` gives it (`photos/p001.jpg`).
    pub name: String,
    pub labels: Vec<String>,
    pub kind: Kind,
    /// The largest instance's approximate width, pixels of the file.
    pub logo_width: u32,
    pub condition: String,
    pub form: Option<Form>,
    pub half: Half,
}

impl Photo {
    /// The condition groups the photo's description falls in (several, or
    /// "other"), for the per-condition report.
    pub fn condition_groups(&self) -> Vec<&'static str> {
        let text = self.condition.to_lowercase();
        let groups: Vec<&'static str> = CONDITION_GROUPS
            .iter()
            .filter(|(_, words)| words.iter().any(|w| text.contains(w)))
            .map(|(name, _)| *name)
            .collect();
        if groups.is_empty() {
            vec!["other"]
        } else {
            groups
        }
    }
}

/// Condition groups by words of the set's `condition` column.
pub const CONDITION_GROUPS: [(&str, &[&str]); 7] = [
    (
        "screen, slide or LED wall",
        &[
            "screen",
            "slide",
            "led",
            "projector",
            "monitor",
            "laptop",
            "display",
        ],
    ),
    (
        "print, sticker or box",
        &[
            "print",
            "sticker",
            "t-shirt",
            "poster",
            "paper",
            "box",
            "silkscreen",
        ],
    ),
    (
        "stage, sign or booth",
        &["stage", "banner", "backdrop", "sign", "booth", "podium"],
    ),
    (
        "angled or partly hidden",
        &["angled", "partly hidden", "perspective", "tilted"],
    ),
    (
        "3D, extruded or shiny",
        &["3d", "extruded", "reflection", "shiny", "metal"],
    ),
    ("small or in a crowd", &["small", "tiny", "crowd"]),
    ("outdoor", &["outdoor", "sunlight"]),
];

pub struct RealSet {
    pub dir: PathBuf,
    pub references: Vec<detector::Reference>,
    pub photos: Vec<Photo>,
}

/// Reads the set's references and labels (not the photos' pixels).
pub fn load(dir: &Path) -> anyhow::Result<RealSet> {
    let labels_path = dir.join("labels.tsv");
    let tsv = std::fs::read_to_string(&labels_path).with_context(|| {
        format!(
            "reading {} (the real-photo set lives in ../shared/real-photos beside the checkout, or set REAL_PHOTOS)",
            labels_path.display()
        )
    })?;
    let mut photos = Vec::new();
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("{}: no column {name:?}", labels_path.display()))
    };
    let (c_file, c_labels, c_kind, c_width, c_condition, c_form) = (
        column("file")?,
        column("labels")?,
        column("kind")?,
        column("approx_logo_width_px")?,
        column("condition")?,
        column("form")?,
    );
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let cell = |c: usize| cells.get(c).copied().unwrap_or("").trim();
        let at = || format!("{} line {}", labels_path.display(), n + 2);
        let kind = match cell(c_kind) {
            "positive" => Kind::Positive,
            "negative" => Kind::Negative,
            "hard-negative" => Kind::HardNegative,
            other => bail!(
                "{}: kind {other:?} is not positive, negative or hard-negative",
                at()
            ),
        };
        let form = match (kind, cell(c_form)) {
            (Kind::Positive, "logo") => Some(Form::Logo),
            (Kind::Positive, "variant") => Some(Form::Variant),
            (Kind::Positive, "object") => Some(Form::Object),
            (Kind::Positive, other) => {
                bail!("{}: form {other:?} is not logo, variant or object", at())
            }
            _ => None,
        };
        photos.push(Photo {
            file: dir.join(cell(c_file)),
            name: cell(c_file).to_owned(),
            labels: cell(c_labels)
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            kind,
            logo_width: cell(c_width).parse().unwrap_or(0),
            condition: cell(c_condition).to_owned(),
            form,
            half: Half::Tuning,
        });
    }
    split(&mut photos);
    let mut references = Vec::new();
    let refs_dir = dir.join("references");
    let mut brands: Vec<PathBuf> = std::fs::read_dir(&refs_dir)
        .with_context(|| format!("reading {}", refs_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    brands.sort();
    for brand in brands {
        let label = brand
            .file_name()
            .and_then(|n| n.to_str())
            .context("a brand folder's name is not UTF-8")?
            .to_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&brand)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "png" | "jpg" | "jpeg" | "webp" | "svg"))
            })
            .collect();
        files.sort();
        for file in files {
            references.push(detector::Reference::load(&label, &file)?);
        }
    }
    Ok(RealSet {
        dir: dir.to_owned(),
        references,
        photos,
    })
}

/// The fixed split: photos grouped by kind, form and first label, each group
/// in file order, alternately to the tuning and the held-out half. Both
/// halves so get every brand, form and kind in equal measure, and the split
/// depends on nothing but the labels.
fn split(photos: &mut [Photo]) {
    let mut groups: BTreeMap<(Kind, Option<Form>, String), Vec<usize>> = BTreeMap::new();
    for (i, p) in photos.iter().enumerate() {
        let first = p.labels.first().cloned().unwrap_or_default();
        groups.entry((p.kind, p.form, first)).or_default().push(i);
    }
    for members in groups.values_mut() {
        members.sort_by(|a, b| photos[*a].name.cmp(&photos[*b].name));
        for (k, &i) in members.iter().enumerate() {
            photos[i].half = if k % 2 == 0 {
                Half::Tuning
            } else {
                Half::HeldOut
            };
        }
    }
}

/// Image-level counts: a label of the photo reported is a true positive,
/// one not reported a false negative, a label reported that the photo does
/// not carry a false positive.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// Photos with at least one false label.
    pub photos_with_false_labels: usize,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
        self.photos_with_false_labels += other.photos_with_false_labels;
    }

    /// The label counts alone, for the evaluation's shared precision and
    /// recall.
    pub fn tally(&self) -> Tally {
        Tally {
            true_positives: self.true_positives,
            false_positives: self.false_positives,
            false_negatives: self.false_negatives,
        }
    }

    pub fn precision(&self) -> f64 {
        self.tally().precision()
    }

    pub fn recall(&self) -> f64 {
        self.tally().recall()
    }
}

/// Scores the labels reported in one photo against its own.
pub fn score(reported: &[String], truth: &[String]) -> Counts {
    let mut reported: Vec<&String> = reported.iter().collect();
    reported.sort();
    reported.dedup();
    let tp = reported.iter().filter(|r| truth.contains(r)).count();
    let fp = reported.len() - tp;
    Counts {
        true_positives: tp,
        false_positives: fp,
        false_negatives: truth.iter().filter(|t| !reported.contains(t)).count(),
        photos_with_false_labels: usize::from(fp > 0),
    }
}

/// Logo width groups (pixels of the file, as labelled) for the report.
pub const WIDTHS: [(u32, u32); 5] = [(0, 50), (50, 100), (100, 200), (200, 400), (400, u32::MAX)];

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(name: &str, labels: &[&str], kind: Kind, form: Option<Form>) -> Photo {
        Photo {
            file: PathBuf::from(name),
            name: name.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            kind,
            logo_width: 100,
            condition: String::new(),
            form,
            half: Half::Tuning,
        }
    }

    #[test]
    fn the_split_alternates_within_each_group_and_is_fixed() {
        let mut photos = vec![
            photo("p3", &["go"], Kind::Positive, Some(Form::Logo)),
            photo("p1", &["go"], Kind::Positive, Some(Form::Logo)),
            photo("p2", &["go"], Kind::Positive, Some(Form::Logo)),
            photo("p4", &["go"], Kind::Positive, Some(Form::Object)),
            photo("n1", &[], Kind::Negative, None),
            photo("n2", &[], Kind::Negative, None),
        ];
        split(&mut photos);
        let half = |n: &str| photos.iter().find(|p| p.name == n).unwrap().half;
        assert_eq!(half("p1"), Half::Tuning);
        assert_eq!(half("p2"), Half::HeldOut);
        assert_eq!(half("p3"), Half::Tuning);
        assert_eq!(half("p4"), Half::Tuning);
        assert_eq!(half("n1"), Half::Tuning);
        assert_eq!(half("n2"), Half::HeldOut);
    }

    #[test]
    fn scoring_counts_labels_not_places() {
        let s = |r: &[&str], t: &[&str]| {
            score(
                &r.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
                &t.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            )
        };
        let c = s(&["go", "python"], &["go", "docker"]);
        assert_eq!(
            (c.true_positives, c.false_positives, c.false_negatives),
            (1, 1, 1)
        );
        assert_eq!(c.photos_with_false_labels, 1);
        let c = s(&[], &[]);
        assert_eq!((c.precision(), c.recall()), (1.0, 1.0));
    }

    #[test]
    fn conditions_fall_in_named_groups() {
        let mut p = photo("p", &["go"], Kind::Positive, Some(Form::Logo));
        p.condition = "mark on stage LED screen, dark hall".into();
        assert_eq!(
            p.condition_groups(),
            vec!["screen, slide or LED wall", "stage, sign or booth"]
        );
        p.condition = "gopher painted on bus".into();
        assert_eq!(p.condition_groups(), vec!["other"]);
    }
}
