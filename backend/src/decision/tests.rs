use super::*;
use proptest::prelude::*;

fn catalog() -> Catalog {
    let product = |id: &str, labels: &[&str], min: f32, display: u32, cooldown: u32| {
        serde_json::json!({
            "id": id, "labels": labels, "title": id, "price": "$1",
            "image_url": "img.png", "link_url": format!("https://shop.example/{id}"),
            "min_confidence": min, "display_seconds": display, "cooldown_seconds": cooldown
        })
    };
    Catalog::from_json(
        &serde_json::json!({ "products": [
            product("mug", &["mug", "mug-logo"], 70.0, 20, 60),
            product("cap", &["cap"], 50.0, 10, 30),
            product("tee", &["tee"], 80.0, 15, 0),
        ]})
        .to_string(),
    )
    .unwrap()
}

fn det(label: &str, confidence: f32) -> Detection {
    Detection {
        label: label.into(),
        confidence,
        bounding_box: None,
    }
}

fn id(s: &str) -> ProductId {
    ProductId::parse(s).unwrap()
}

const T0: u64 = 1_700_000_000;

/// Applies a decision the way the handler does (the write always succeeds).
fn step(state: &mut ChannelState, dets: &[Detection], now: u64, rules: &Rules) -> Decision {
    let d = decide(dets, &catalog(), state, now, rules, "chan1");
    if let Some(s) = &d.new_state {
        *state = s.clone();
    }
    d
}

#[test]
fn first_sighting_shows_with_a_cue_and_starts_the_workflow() {
    let mut state = ChannelState::default();
    let d = step(&mut state, &[det("mug", 90.0)], T0, &Rules::default());
    assert_eq!(d.labels[0].outcome, Outcome::Shown);
    assert_eq!(
        d.cue.unwrap().encode().unwrap(),
        r#"{"v":1,"seq":1700000000000,"show":[{"id":"mug","left":20,"s":1700000000000}]}"#
    );
    assert_eq!(d.start_workflow.as_deref(), Some("chan1-1700000000000"));
    assert_eq!(
        state.version,
        T0 * 1000,
        "a fresh channel's versions start at the clock"
    );
    assert_eq!(state.products[&id("mug")].visible_until, T0 + 20);
    assert_eq!(state.products[&id("mug")].cooldown_until, T0 + 80);
}

#[test]
fn a_sighting_inside_the_window_does_not_reshow_or_extend() {
    let mut state = ChannelState::default();
    step(&mut state, &[det("mug", 90.0)], T0, &Rules::default());
    let d = step(&mut state, &[det("mug", 99.0)], T0 + 5, &Rules::default());
    assert_eq!(
        d.labels[0].outcome,
        Outcome::AlreadyShowing { seconds_left: 15 }
    );
    assert!(d.new_state.is_none() && d.cue.is_none() && d.start_workflow.is_none());
    assert_eq!(state.products[&id("mug")].visible_until, T0 + 20);
}

#[test]
fn cooldown_holds_after_the_window_then_it_shows_again() {
    let rules = Rules::default();
    let mut state = ChannelState::default();
    step(&mut state, &[det("mug", 90.0)], T0, &rules);
    let d = step(&mut state, &[det("mug", 90.0)], T0 + 20, &rules);
    assert_eq!(
        d.labels[0].outcome,
        Outcome::CoolingDown { seconds_left: 60 }
    );
    let d = step(&mut state, &[det("mug", 90.0)], T0 + 79, &rules);
    assert_eq!(
        d.labels[0].outcome,
        Outcome::CoolingDown { seconds_left: 1 }
    );
    let d = step(&mut state, &[det("mug", 90.0)], T0 + 80, &rules);
    assert_eq!(d.labels[0].outcome, Outcome::Shown);
    assert_eq!(state.products[&id("mug")].visible_until, T0 + 100);
}

#[test]
fn every_label_counts_not_just_the_first() {
    let rules = Rules {
        max_active: 3,
        ..Rules::default()
    };
    let mut state = ChannelState::default();
    let d = step(
        &mut state,
        &[det("unknown", 99.0), det("cap", 60.0), det("mug", 75.0)],
        T0,
        &rules,
    );
    let outcomes: Vec<_> = d.labels.iter().map(|l| l.outcome.as_str()).collect();
    assert_eq!(outcomes, ["unknown_label", "shown", "shown"]);
    // Stacked most confident first.
    assert_eq!(
        d.cue.unwrap().encode().unwrap(),
        r#"{"v":1,"seq":1700000000000,"show":[{"id":"mug","left":20,"s":1700000000000},{"id":"cap","left":10,"s":1700000000000}]}"#
    );
}

#[test]
fn below_min_confidence_is_ignored() {
    let mut state = ChannelState::default();
    let d = step(&mut state, &[det("tee", 79.9)], T0, &Rules::default());
    assert_eq!(
        d.labels[0].outcome,
        Outcome::BelowConfidence {
            min_confidence: 80.0
        }
    );
    assert!(d.new_state.is_none());
}

#[test]
fn at_most_k_show_and_the_most_confident_wins() {
    let mut state = ChannelState::default();
    let d = step(
        &mut state,
        &[det("cap", 60.0), det("mug", 95.0), det("tee", 85.0)],
        T0,
        &Rules::default(),
    );
    let outcomes: Vec<_> = d.labels.iter().map(|l| l.outcome.as_str()).collect();
    assert_eq!(outcomes, ["over_limit", "shown", "over_limit"]);
    // The card on screen keeps its slot against a more confident newcomer.
    let d = step(&mut state, &[det("tee", 100.0)], T0 + 1, &Rules::default());
    assert_eq!(d.labels[0].outcome, Outcome::OverLimit);
    assert!(d.new_state.is_none());
}

#[test]
fn two_labels_of_one_product_show_it_once() {
    let mut state = ChannelState::default();
    let d = step(
        &mut state,
        &[det("mug-logo", 72.0), det("mug", 91.0)],
        T0,
        &Rules::default(),
    );
    assert_eq!(d.labels[0].outcome, Outcome::Shown);
    assert_eq!(d.labels[1].outcome, Outcome::Shown);
    assert_eq!(
        d.shown(),
        vec![&id("mug")],
        "both labels report the one show"
    );
    assert_eq!(state.products.len(), 1);
    assert_eq!(state.products[&id("mug")].confidence, 91.0);
}

#[test]
fn a_frame_with_no_label_changes_nothing() {
    let state = ChannelState::default();
    let d = decide(&[], &catalog(), &state, T0, &Rules::default(), "c");
    assert!(d.labels.is_empty() && d.new_state.is_none() && d.cue.is_none());
}

#[test]
fn nonsense_confidences_never_show() {
    let mut state = ChannelState::default();
    let d = step(
        &mut state,
        &[det("mug", f32::NAN), det("cap", -5.0)],
        T0,
        &Rules::default(),
    );
    assert!(d.new_state.is_none());
}

#[test]
fn a_running_workflow_is_not_started_twice() {
    let rules = Rules {
        max_active: 2,
        ..Rules::default()
    };
    let mut state = ChannelState::default();
    let first = step(&mut state, &[det("mug", 90.0)], T0, &rules);
    assert!(first.start_workflow.is_some());
    let second = step(&mut state, &[det("cap", 90.0)], T0 + 3, &rules);
    assert_eq!(second.labels[0].outcome, Outcome::Shown);
    assert_eq!(second.start_workflow, None);
    // After the lease lapses (the execution died), a show starts a new one.
    let mut lapsed = state.clone();
    lapsed.products.clear();
    let later = T0 + rules.lease_seconds() + 1;
    let third = step(&mut lapsed, &[det("tee", 90.0)], later, &rules);
    assert!(third.start_workflow.is_some());
}

#[test]
fn cards_without_a_workflow_restart_it_on_the_next_thumbnail() {
    let rules = Rules::default();
    let mut state = ChannelState::default();
    step(&mut state, &[det("mug", 90.0)], T0, &rules);
    // The start failed and the handler released the lease.
    state.workflow.clear();
    state.lease_until = 0;
    let d = step(&mut state, &[], T0 + 5, &rules);
    assert_eq!(d.cue, None, "nothing new to show");
    assert!(d.start_workflow.is_some());
    assert!(state.lease_held(T0 + 5));
}

#[test]
fn tick_republishes_with_seconds_left_and_wakes_for_each_window_end() {
    let rules = Rules {
        max_active: 2,
        republish_seconds: 5,
    };
    let mut state = ChannelState::default();
    let d = step(
        &mut state,
        &[det("mug", 90.0), det("cap", 80.0)],
        T0,
        &rules,
    );
    let exec = d.start_workflow.unwrap();

    // A late joiner at T0+7 gets the set with the right seconds left.
    let plan = tick(&state, &catalog(), T0 + 7, &rules, &exec, 0, "chan1");
    assert_eq!(
        plan.cue.unwrap().encode().unwrap(),
        r#"{"v":1,"seq":1700000007000,"show":[{"id":"mug","left":13,"s":1700000000000},{"id":"cap","left":3,"s":1700000000000}]}"#
    );
    assert_eq!(plan.wait_seconds, 3, "wakes when cap's window ends");
    assert!(!plan.done);
    state = plan.new_state.unwrap();

    // At cap's end the cue goes out without cap.
    let plan = tick(&state, &catalog(), T0 + 10, &rules, &exec, 1, "chan1");
    assert_eq!(
        plan.cue.unwrap().encode().unwrap(),
        r#"{"v":1,"seq":1700000010000,"show":[{"id":"mug","left":10,"s":1700000000000}]}"#
    );
    assert_eq!(plan.wait_seconds, 5);
    state = plan.new_state.unwrap();

    // After the last window: a clear cue, the lease released, done.
    let plan = tick(&state, &catalog(), T0 + 20, &rules, &exec, 2, "chan1");
    assert_eq!(plan.cue, Some(Cue::clear_at(1_700_000_020_000)));
    assert!(plan.done);
    let released = plan.new_state.unwrap();
    assert!(!released.lease_held(T0 + 20));
    // Cooldowns survive the end of the workflow.
    assert_eq!(released.products[&id("mug")].cooldown_until, T0 + 80);
}

#[test]
fn a_superseded_execution_bows_out_silently() {
    let mut state = ChannelState::default();
    step(&mut state, &[det("mug", 90.0)], T0, &Rules::default());
    let plan = tick(
        &state,
        &catalog(),
        T0 + 1,
        &Rules::default(),
        "someone-else",
        0,
        "chan1",
    );
    assert_eq!(plan, TickPlan::bow_out());
}

#[test]
fn the_last_step_hands_the_channel_to_a_successor() {
    let rules = Rules::default();
    let mut state = ChannelState::default();
    let exec = step(&mut state, &[det("mug", 90.0)], T0, &rules)
        .start_workflow
        .unwrap();
    let plan = tick(
        &state,
        &catalog(),
        T0 + 1,
        &rules,
        &exec,
        MAX_WORKFLOW_STEPS - 1,
        "chan1",
    );
    let successor = plan.successor.clone().unwrap();
    assert_ne!(successor, exec);
    assert!(plan.done, "this execution ends");
    let s = plan.new_state.unwrap();
    assert_eq!(s.workflow, successor, "the write gives the channel away");
    assert!(s.lease_held(T0 + 1));
    assert!(!plan.cue.unwrap().is_clear(), "the step still re-publishes");
    // A channel with nothing left ends instead of handing over.
    let plan = tick(
        &state,
        &catalog(),
        T0 + 20,
        &rules,
        &exec,
        MAX_WORKFLOW_STEPS - 1,
        "chan1",
    );
    assert_eq!(plan.successor, None);
    assert!(plan.cue.unwrap().is_clear());
}

#[test]
fn a_product_taken_out_of_the_catalog_ends_at_the_next_step_and_keeps_its_cooldown() {
    let rules = Rules {
        max_active: 2,
        republish_seconds: 5,
    };
    let mut state = ChannelState::default();
    let exec = step(
        &mut state,
        &[det("mug", 90.0), det("cap", 80.0)],
        T0,
        &rules,
    )
    .start_workflow
    .unwrap();
    let cooldown = state.products[&id("cap")].cooldown_until;
    let without_cap = Catalog::from_json(
        &catalog()
            .to_json()
            .replace(r#""id": "cap""#, r#""id": "cap-gone""#),
    )
    .unwrap();
    assert!(without_cap.get(&id("cap")).is_none());
    let plan = tick(&state, &without_cap, T0 + 2, &rules, &exec, 0, "chan1");
    let cue = plan.cue.unwrap();
    assert_eq!(cue.show.len(), 1);
    assert_eq!(cue.show[0].id.as_str(), "mug");
    let s = plan.new_state.unwrap();
    assert_eq!(s.products[&id("cap")].visible_until, T0 + 2);
    assert_eq!(s.products[&id("cap")].cooldown_until, cooldown);
    // With every product gone the channel is cleared and let go.
    let empty = Catalog::from_json(
        &catalog()
            .to_json()
            .replace(r#""id": "mug""#, r#""id": "mug-gone""#)
            .replace(r#""id": "cap""#, r#""id": "cap-gone""#),
    )
    .unwrap();
    let plan = tick(&s, &empty, T0 + 3, &rules, &exec, 1, "chan1");
    assert!(plan.cue.unwrap().is_clear());
    assert!(plan.done);
}

#[test]
fn a_failed_start_gives_the_lease_back_and_the_next_thumbnail_restarts() {
    let rules = Rules::default();
    let mut state = ChannelState::default();
    let exec = step(&mut state, &[det("mug", 90.0)], T0, &rules)
        .start_workflow
        .unwrap();
    assert_eq!(release_lease(&state, "other", T0), Decision::unchanged());
    let released = release_lease(&state, &exec, T0).new_state.unwrap();
    assert!(!released.lease_held(T0));
    let d = decide(&[], &catalog(), &released, T0 + 2, &rules, "chan1");
    assert!(
        d.start_workflow.is_some(),
        "the orphaned card gets a workflow"
    );
    assert_eq!(d.cue, None, "nothing new to show");
}

#[test]
fn reset_forgets_cards_cooldowns_and_the_lease() {
    let mut state = ChannelState::default();
    step(&mut state, &[det("mug", 90.0)], T0, &Rules::default());
    let r = reset(&state, T0 + 1).new_state.unwrap();
    assert!(r.version > state.version);
    assert!(r.products.is_empty() && r.workflow.is_empty());
    assert_eq!(reset(&ChannelState::default(), T0), Decision::unchanged());
}

#[test]
fn force_show_ignores_cooldown_and_makes_room() {
    let rules = Rules::default();
    let mut state = ChannelState::default();
    step(&mut state, &[det("mug", 90.0)], T0, &rules);
    let d = force_show(&state, &catalog(), &id("cap"), T0 + 2, &rules, "c");
    let (s, start) = (d.new_state.unwrap(), d.start_workflow);
    assert_eq!(
        d.cue.unwrap().encode().unwrap(),
        r#"{"v":1,"seq":1700000002000,"show":[{"id":"cap","left":10,"s":1700000002000}]}"#
    );
    assert_eq!(start, None, "the running workflow keeps the channel");
    assert_eq!(s.products[&id("mug")].visible_until, T0 + 2);
    assert_eq!(
        force_show(&state, &catalog(), &id("nope"), T0, &rules, "c"),
        Decision::unchanged()
    );
}

#[test]
fn clear_all_takes_cards_off_and_starts_cooldowns() {
    let mut state = ChannelState::default();
    step(&mut state, &[det("mug", 90.0)], T0, &Rules::default());
    let d = clear_all(&state, &catalog(), T0 + 5);
    let cleared = d.new_state.unwrap();
    assert!(cleared.cue_at(T0 + 5).is_clear());
    assert_eq!(d.cue, Some(Cue::clear_at(cleared.version)));
    assert_eq!(cleared.products[&id("mug")].cooldown_until, T0 + 65);
}

#[test]
fn execution_names_fit_step_functions_rules() {
    let name = execution_name(&"aB3$%".repeat(40), u64::MAX);
    assert!(name.len() <= 80, "{}", name.len());
    assert!(name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Random thumbnails over time, with the workflow ticking in between:
    /// the rules hold at every instant.
    #[test]
    fn rules_hold_over_any_sequence(
        max_active in 1usize..4,
        frames in proptest::collection::vec(
            (0u64..12, proptest::collection::vec((0usize..5, 0f32..100.0), 0..4)),
            1..60,
        ),
    ) {
        let rules = Rules { max_active, republish_seconds: 5 };
        let catalog = catalog();
        let labels = ["mug", "mug-logo", "cap", "tee", "stranger"];
        let mut state = ChannelState::default();
        let mut now = T0;
        let mut last_shown: BTreeMap<ProductId, u64> = BTreeMap::new();
        let mut show_of: BTreeMap<ProductId, ShowId> = BTreeMap::new();
        for (gap, dets) in frames {
            now += gap;
            let dets: Vec<_> = dets.into_iter().map(|(l, c)| det(labels[l], c)).collect();
            let d = decide(&dets, &catalog, &state, now, &rules, "chan");
            for shown in d.shown() {
                let p = catalog.get(shown).unwrap();
                // Shown only with a qualifying sighting.
                prop_assert!(dets.iter().any(|x| catalog.product_for_label(&x.label).map(|q| &q.id) == Some(shown) && x.confidence >= p.min_confidence));
                // Never inside its previous window + cooldown.
                if let Some(&at) = last_shown.get(shown) {
                    prop_assert!(now >= at + u64::from(p.display_seconds + p.cooldown_seconds));
                }
                last_shown.insert(shown.clone(), now);
            }
            if let Some(s) = d.new_state.clone() {
                prop_assert!(s.version > state.version);
                // A new display window is a new show, named by the version
                // that started it; no two windows share one.
                for shown in d.shown() {
                    let previous = show_of.insert(shown.clone(), ShowId(s.version));
                    prop_assert!(previous.is_none_or(|p| p.0 < s.version));
                }
                prop_assert_eq!(d.cue.is_some(), !d.shown().is_empty());
                if let Some(cue) = &d.cue {
                    prop_assert_eq!(cue.seq, Some(s.version), "a cue names the version written");
                }
                state = s;
            } else {
                prop_assert!(d.cue.is_none() && d.start_workflow.is_none());
            }
            // At most K at once, and the cue is exactly the active set.
            let cue = state.cue_at(now);
            prop_assert!(cue.show.len() <= max_active);
            prop_assert!(cue.encode().is_ok());
            for item in &cue.show {
                // Every cue of a window names the show that started it.
                prop_assert_eq!(item.show, show_of.get(&item.id).copied());
                let p = catalog.get(&item.id).unwrap();
                prop_assert!(item.seconds_left >= 1 && item.seconds_left <= p.display_seconds);
            }
            // Whenever a card is up, a workflow holds the channel.
            if !cue.show.is_empty() {
                prop_assert!(state.lease_held(now));
            }
            // The workflow's tick never changes what is on screen.
            if state.lease_held(now) {
                let workflow = state.workflow.clone();
                let plan = tick(&state, &catalog, now, &rules, &workflow, 0, "chan");
                let republished = plan.cue.clone().unwrap();
                prop_assert_eq!(&republished.show, &state.cue_at(now).show);
                if let Some(s) = plan.new_state {
                    prop_assert!(s.version > state.version);
                    prop_assert_eq!(republished.seq, Some(s.version));
                    prop_assert_eq!(s.cue_at(now).show, cue.show.clone());
                    state = s;
                }
            }
        }
    }
}

/// One thing that can happen to a channel, for the transition property test.
#[derive(Debug, Clone)]
enum Event {
    Thumbnail(Vec<(usize, f32)>),
    /// A step of the owning execution at this iteration (the last one hands
    /// over), or of a stranger.
    Tick {
        owner: bool,
        last: bool,
    },
    ForceShow(usize),
    /// A pin for so many seconds (0 and beyond the limit included).
    Pin(usize, u32),
    Unpin(usize),
    ClearAll,
    /// The operator pauses for so many seconds, or resumes (0).
    Pause(u64),
    /// The operator marks a product sold out, or back in stock.
    SoldOut(usize, bool),
    Reset,
    /// The owner's start failed (or a stranger's claim is refused).
    ReleaseLease {
        owner: bool,
    },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => proptest::collection::vec((0usize..5, 0f32..100.0), 0..4).prop_map(Event::Thumbnail),
        3 => (any::<bool>(), proptest::bool::weighted(0.2)).prop_map(|(owner, last)| Event::Tick { owner, last }),
        1 => (0usize..4).prop_map(Event::ForceShow),
        1 => (0usize..4, prop_oneof![0u32..40, Just(u32::MAX)]).prop_map(|(i, s)| Event::Pin(i, s)),
        1 => (0usize..4).prop_map(Event::Unpin),
        1 => Just(Event::ClearAll),
        1 => prop_oneof![Just(0u64), 1u64..40, Just(u64::MAX)].prop_map(Event::Pause),
        1 => (0usize..4, any::<bool>()).prop_map(|(i, sold)| Event::SoldOut(i, sold)),
        1 => Just(Event::Reset),
        1 => any::<bool>().prop_map(|owner| Event::ReleaseLease { owner }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Every transition of the core, in any order: each write moves the
    /// version up, each cue is the written state's own (level-triggered)
    /// and names its version, a started workflow owns the channel, and at
    /// most K cards show.
    #[test]
    fn every_transition_keeps_the_invariants(
        max_active in 1usize..4,
        events in proptest::collection::vec((0u64..9, event()), 1..80),
    ) {
        let rules = Rules { max_active, republish_seconds: 5 };
        let catalog = catalog();
        let labels = ["mug", "mug-logo", "cap", "tee", "stranger"];
        let products = ["mug", "cap", "tee", "nope"];
        let mut state = ChannelState::default();
        let mut now = T0;
        for (gap, event) in events {
            now += gap;
            let owner = state.workflow.clone();
            let mut successor = None;
            let (new_state, cue, start) = match &event {
                Event::Thumbnail(dets) => {
                    let dets: Vec<_> = dets.iter().map(|&(l, c)| det(labels[l], c)).collect();
                    let d = decide(&dets, &catalog, &state, now, &rules, "chan");
                    // Paused: nothing shows by itself, whatever is seen.
                    if state.paused(now).is_some() {
                        prop_assert!(d.labels.iter().all(|l| l.outcome != Outcome::Shown), "{:?}", d.labels);
                        prop_assert!(d.cue.is_none());
                    }
                    (d.new_state, d.cue, d.start_workflow)
                }
                Event::Tick { owner: mine, last } => {
                    let execution = if *mine { owner.as_str() } else { "stranger-1" };
                    let iteration = if *last { MAX_WORKFLOW_STEPS - 1 } else { 3 };
                    let plan = tick(&state, &catalog, now, &rules, execution, iteration, "chan");
                    if state.workflow != execution {
                        prop_assert_eq!(&plan, &TickPlan::bow_out());
                    }
                    if let Some(name) = &plan.successor {
                        prop_assert!(plan.done && *last);
                        prop_assert_ne!(name, &owner);
                        prop_assert_eq!(plan.new_state.as_ref().map(|s| &s.workflow), Some(name));
                        successor = Some(name.clone());
                    }
                    (plan.new_state, plan.cue, None)
                }
                Event::ForceShow(i) => {
                    let d = force_show(&state, &catalog, &id(products[*i]), now, &rules, "chan");
                    if let Some(s) = &d.new_state {
                        prop_assert!(s.active(now).iter().any(|(p, _)| p.as_str() == products[*i]));
                    }
                    (d.new_state, d.cue, d.start_workflow)
                }
                Event::Pin(i, seconds) => {
                    let d = pin(&state, &catalog, &id(products[*i]), Some(*seconds), now, &rules, "chan");
                    if let Some(s) = &d.new_state {
                        let p = &s.products[&id(products[*i])];
                        let shown_for = p.visible_until - now;
                        prop_assert_eq!(shown_for, u64::from((*seconds).clamp(1, ad_contract::MAX_DISPLAY_SECONDS)));
                    }
                    (d.new_state, d.cue, d.start_workflow)
                }
                Event::Unpin(i) => {
                    let d = unpin(&state, &catalog, &id(products[*i]), now);
                    let was_showing = state.active(now).iter().any(|(p, _)| p.as_str() == products[*i]);
                    prop_assert_eq!(d.new_state.is_some(), was_showing);
                    if let Some(s) = &d.new_state {
                        prop_assert!(!s.active(now).iter().any(|(p, _)| p.as_str() == products[*i]));
                        // The others stay as they were.
                        prop_assert_eq!(s.active(now).len() + 1, state.active(now).len());
                    }
                    (d.new_state, d.cue, d.start_workflow)
                }
                Event::ClearAll => {
                    let d = clear_all(&state, &catalog, now);
                    prop_assert!(d.cue.as_ref().is_some_and(Cue::is_clear));
                    (d.new_state, d.cue, d.start_workflow)
                }
                Event::Pause(seconds) => {
                    let d = set_pause(&state, *seconds, now);
                    let after = d.new_state.as_ref().unwrap_or(&state);
                    prop_assert_eq!(after.paused(now).is_some(), *seconds > 0, "{:?}", event);
                    prop_assert!(after.paused_until <= now + MAX_PAUSE_SECONDS);
                    // Pausing changes no card.
                    prop_assert!(d.cue.is_none() && d.start_workflow.is_none());
                    prop_assert_eq!(after.cue_at(now).show, state.cue_at(now).show);
                    (d.new_state, d.cue, d.start_workflow)
                }
                Event::SoldOut(i, sold) => {
                    let product = id(products[*i]);
                    let d = set_sold_out(&state, &product, *sold, now);
                    let after = d.new_state.as_ref().unwrap_or(&state);
                    prop_assert_eq!(after.sold_out.contains(&product), *sold);
                    // The same cards show, and the product's says so; a cue
                    // goes out only when its card is up.
                    let (before_cue, after_cue) = (state.cue_at(now), after.cue_at(now));
                    prop_assert_eq!(
                        after_cue.show.iter().map(|c| &c.id).collect::<Vec<_>>(),
                        before_cue.show.iter().map(|c| &c.id).collect::<Vec<_>>()
                    );
                    for card in &after_cue.show {
                        prop_assert_eq!(card.sold_out, after.sold_out.contains(&card.id));
                    }
                    let showing = after_cue.show.iter().any(|c| c.id == product);
                    prop_assert_eq!(d.cue.is_some(), showing && d.new_state.is_some());
                    prop_assert!(d.start_workflow.is_none());
                    (d.new_state, d.cue, d.start_workflow)
                }
                Event::Reset => {
                    let d = reset(&state, now);
                    if let Some(s) = &d.new_state {
                        prop_assert!(s.products.is_empty() && s.workflow.is_empty());
                        prop_assert_eq!(s.paused_until, state.paused_until);
                        prop_assert_eq!(&s.sold_out, &state.sold_out);
                    }
                    (d.new_state, d.cue, d.start_workflow)
                }
                Event::ReleaseLease { owner: mine } => {
                    let execution = if *mine { owner.as_str() } else { "stranger-2" };
                    let d = release_lease(&state, execution, now);
                    prop_assert_eq!(d.new_state.is_some(), state.workflow == execution);
                    (d.new_state, d.cue, d.start_workflow)
                }
            };
            let Some(s) = new_state else {
                prop_assert!(cue.is_none() && start.is_none(), "{:?}: no write, no effect", event);
                continue;
            };
            prop_assert!(s.version > state.version, "{:?}", event);
            if let Some(cue) = &cue {
                prop_assert_eq!(cue.seq, Some(s.version));
                prop_assert_eq!(&cue.show, &s.cue_at(now).show, "{:?}", event);
            }
            if let Some(name) = start.as_ref().or(successor.as_ref()) {
                prop_assert_eq!(&s.workflow, name);
                prop_assert!(s.lease_held(now));
            }
            prop_assert!(s.active(now).len() <= max_active);
            state = s;
            // Cards up with no workflow: the next thumbnail, even an empty
            // one, restarts it.
            if !state.active(now).is_empty() && !state.lease_held(now) {
                let d = decide(&[], &catalog, &state, now, &rules, "chan");
                prop_assert!(d.start_workflow.is_some());
            }
        }
    }
}

#[test]
fn versions_grow_across_a_lost_item_so_players_keep_applying_cues() {
    let rules = Rules::default();
    let mut state = ChannelState::default();
    // A busy lifetime: 500 writes within one second.
    for _ in 0..500 {
        state = clear_all(&state, &catalog(), T0).new_state.unwrap();
    }
    let last_seq = state.cue_at(T0).seq.unwrap();
    // The item is gone (TTL, a restarted studio): the next lifetime starts at
    // version 0 a second later, and its first cue still orders after the old.
    let mut fresh = ChannelState::default();
    let d = step(&mut fresh, &[det("mug", 90.0)], T0 + 1, &rules);
    let first = d.cue.unwrap();
    assert!(
        first.supersedes(Some(last_seq)),
        "{first:?} after {last_seq}"
    );
    assert_eq!(next_version(7, 0), 8);
    assert_eq!(next_version(u64::MAX, u64::MAX), u64::MAX);
}

#[test]
fn a_pause_holds_automatic_cards_not_the_operators_and_ends_by_itself() {
    let rules = Rules::default();
    let mut state = ChannelState::default();
    let paused = set_pause(&state, 30, T0);
    assert!(paused.cue.is_none(), "pausing publishes nothing");
    state = paused.new_state.unwrap();
    assert_eq!(state.paused(T0 + 10), Some(20));

    // Seen while paused: reported, not shown.
    let d = step(&mut state, &[det("mug", 95.0)], T0 + 10, &rules);
    assert!(d.cue.is_none() && d.new_state.is_none());
    assert_eq!(d.labels[0].outcome, Outcome::Paused { seconds_left: 20 });

    // The operator's own show still shows.
    let pinned = force_show(&state, &catalog(), &id("cap"), T0 + 11, &rules, "chan");
    let pinned_state = pinned.new_state.unwrap();
    assert_eq!(pinned_state.active(T0 + 11).len(), 1);
    assert_eq!(
        pinned_state.paused_until, state.paused_until,
        "a pin keeps the pause"
    );

    // The stream dropping and coming back keeps it too.
    let after_reset = reset(&state, T0 + 12).new_state.unwrap();
    assert_eq!(after_reset.paused(T0 + 12), Some(18));

    // It ends by itself: the same sighting then shows.
    let d = step(&mut state, &[det("mug", 95.0)], T0 + 30, &rules);
    assert_eq!(d.labels[0].outcome, Outcome::Shown);

    // Resuming ends it at once; resuming what is not paused changes nothing.
    let mut state = set_pause(&ChannelState::default(), 600, T0)
        .new_state
        .unwrap();
    state = set_pause(&state, 0, T0 + 1).new_state.unwrap();
    assert_eq!(state.paused(T0 + 1), None);
    assert!(set_pause(&state, 0, T0 + 2).new_state.is_none());
    // However long asked for, a pause ends within MAX_PAUSE_SECONDS, and the
    // item is kept (its TTL) at least until then.
    let long = set_pause(&ChannelState::default(), u64::MAX, T0)
        .new_state
        .unwrap();
    assert_eq!(long.paused_until, T0 + MAX_PAUSE_SECONDS);
    assert!(long.expires_at() > long.paused_until);
}

#[test]
fn a_pin_lasts_the_time_given_and_an_unpin_takes_one_card_off() {
    let rules = Rules {
        max_active: 2,
        ..Rules::default()
    };
    let catalog = catalog();
    let state = ChannelState::default();
    let d = pin(&state, &catalog, &id("mug"), Some(5), T0, &rules, "c");
    let state = d.new_state.unwrap();
    assert_eq!(d.cue.unwrap().show[0].seconds_left, 5);
    // Its cooldown (60 s) follows the pin's end, not the display time's.
    assert_eq!(state.products[&id("mug")].cooldown_until, T0 + 5 + 60);
    let state = force_show(&state, &catalog, &id("cap"), T0 + 1, &rules, "c")
        .new_state
        .unwrap();
    assert_eq!(state.active(T0 + 1).len(), 2);

    let d = unpin(&state, &catalog, &id("mug"), T0 + 2);
    let cue = d.cue.unwrap();
    let ids: Vec<_> = cue.show.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["cap"], "only mug went");
    let state = d.new_state.unwrap();
    assert_eq!(state.products[&id("mug")].cooldown_until, T0 + 2 + 60);
    // Not showing: nothing to do.
    assert!(unpin(&state, &catalog, &id("mug"), T0 + 3)
        .new_state
        .is_none());
    assert!(unpin(&state, &catalog, &id("tee"), T0 + 3)
        .new_state
        .is_none());
    // The last card unpinned leaves a clear cue.
    let d = unpin(&state, &catalog, &id("cap"), T0 + 3);
    assert!(d.cue.unwrap().is_clear());
}
