//! The built-in detector on a slice of the generated evaluation set (the
//! docs/figures.md quotes the full one, from `eval-detector`): the targets must hold,
//! negatives — no logo, other brands, look-alikes, real photographs — must
//! never fire, and a negative (inverted) logo must be found like the
//! reference.

use detector::{gray, DEFAULT_MIN_CONFIDENCE};
use detector_eval::scenes::{eval_set, scene, score, seed_detector, Condition, Tally};

/// The labels `detector` reports in `frame` at the default threshold, as
/// `score` takes them.
fn labelled(detector: &detector::BuiltinDetector, frame: &gray::Gray) -> Vec<(String, [f32; 4])> {
    detector
        .detect(frame, DEFAULT_MIN_CONFIDENCE)
        .into_iter()
        .map(|f| (f.label, f.bbox.to_array()))
        .collect()
}

#[test]
fn recall_and_precision_hold_on_generated_scenes() {
    let set = eval_set().expect("seed logos in ../shared/seed-logos");
    // Both signals, as the studio runs them: the reference images and the
    // wordmarks read as text (models from scripts/setup.sh).
    let detector = seed_detector(set.references.clone(), detector::Params::default(), true)
        .expect("references analyse and the text models load (run scripts/setup.sh)");
    let mut total = Tally::default();
    let mut report = Vec::new();
    for condition in Condition::ALL {
        let mut tally = Tally::default();
        for i in 0..6 {
            let s = scene(condition, i, &set.positives, &set.others);
            let frame = gray::decode(&s.jpeg).expect("scene decodes");
            tally.add(score(&labelled(&detector, &frame), &s.truth));
        }
        report.push(format!("{}: {tally:?}", condition.name()));
        if condition.is_negative() {
            assert_eq!(tally.false_positives, 0, "{}: {tally:?}", condition.name());
        }
        // Polarity-free by construction: a negative logo is no harder than
        // the reference itself (it was 0 of 20 before).
        if condition == Condition::Inverted {
            assert!(tally.true_positives >= 5, "{}: {tally:?}", condition.name());
        }
        total.add(tally);
    }
    let report = report.join("\n");
    assert!(
        total.precision() >= 0.95,
        "precision {:.3}\n{report}",
        total.precision()
    );
    assert!(
        total.recall() >= 0.9,
        "recall {:.3}\n{report}",
        total.recall()
    );
}

/// The wordmark read where the keypoint path places a reference, on its own:
/// the word's line in the reference, mapped through the placement, reads as
/// the wordmark (upright even when the logo is turned), and a look-alike
/// placed there does not ("ams" is not "aws"). Measured on 40 scenes a
/// condition: 0.625 clean, 0.775 rotated, no false reading (docs/figures.md).
#[test]
fn a_wordmark_is_read_where_the_keypoints_place_its_logo() {
    let set = eval_set().expect("seed logos in ../shared/seed-logos");
    let detector = seed_detector(
        set.references.clone(),
        detector::Params {
            reading: detector::Reading::EveryPlacement,
            ..detector::Params::default()
        },
        true,
    )
    .expect("references analyse and the text models load (run scripts/setup.sh)");
    let mut by_text = Tally::default();
    let mut lookalikes = Tally::default();
    for condition in [Condition::Clean, Condition::Rotation, Condition::LookAlike] {
        for i in 0..6 {
            let s = scene(condition, i, &set.positives, &set.others);
            let frame = gray::decode(&s.jpeg).expect("scene decodes");
            let read: Vec<_> = detector
                .candidates(&frame)
                .into_iter()
                .filter_map(|c| Some((c.label, c.text?)))
                .filter(|(_, text)| text.confidence >= DEFAULT_MIN_CONFIDENCE)
                .map(|(label, text)| (label, text.bbox.to_array()))
                .collect();
            let tally = score(&read, &s.truth);
            if condition == Condition::LookAlike {
                lookalikes.add(tally);
            } else {
                by_text.add(tally);
            }
        }
    }
    assert_eq!(lookalikes.false_positives, 0, "{lookalikes:?}");
    assert!(by_text.recall() >= 0.5, "{by_text:?}");
    assert!(by_text.precision() >= 0.95, "{by_text:?}");
}

/// Logos under 70 px wide, where the keypoint path runs out of descriptor
/// patch: the whole-logo search (`detector::small`) finds most of them, the
/// keypoint path alone fewer, and neither fires on look-alikes or real
/// photographs without the logos. Measured on 40 scenes a condition: tiny
/// logos 0.70 keypoints alone, 0.875 with it (docs/figures.md).
#[test]
fn small_logos_are_found_whole_where_keypoints_run_out() {
    let set = eval_set().expect("seed logos in ../shared/seed-logos");
    let with = |small_logos| {
        let params = detector::Params {
            small_logos,
            ..detector::Params::default()
        };
        seed_detector(set.references.clone(), params, false).expect("references analyse")
    };
    let (whole, keypoints) = (with(true), with(false));
    let (mut by_whole, mut by_keypoints) = (Tally::default(), Tally::default());
    for i in 0..20 {
        let s = scene(Condition::Tiny, i, &set.positives, &set.others);
        if s.truth.iter().any(|t| t.1[2] * 1280.0 >= 70.0) {
            continue;
        }
        let frame = gray::decode(&s.jpeg).expect("scene decodes");
        by_whole.add(score(&labelled(&whole, &frame), &s.truth));
        by_keypoints.add(score(&labelled(&keypoints, &frame), &s.truth));
    }
    eprintln!("small logos: whole {by_whole:?}, keypoints alone {by_keypoints:?}");
    assert!(
        by_whole.true_positives + by_whole.false_negatives >= 5,
        "too few small scenes: {by_whole:?}"
    );
    assert!(by_whole.recall() >= 0.6, "{by_whole:?}");
    assert!(
        by_whole.true_positives > by_keypoints.true_positives,
        "whole {by_whole:?}, keypoints alone {by_keypoints:?}"
    );
    assert_eq!(by_whole.false_positives, 0, "{by_whole:?}");
    let mut negatives = Tally::default();
    for condition in [Condition::LookAlike, Condition::PhotoNoLogo] {
        for i in 0..8 {
            let s = scene(condition, i, &set.positives, &set.others);
            let frame = gray::decode(&s.jpeg).expect("scene decodes");
            negatives.add(score(&labelled(&whole, &frame), &s.truth));
        }
    }
    assert_eq!(negatives.false_positives, 0, "{negatives:?}");
}
