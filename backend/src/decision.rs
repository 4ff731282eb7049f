//! The decision core: which products show on a channel, when, and what cue to
//! publish. Pure and synchronous: no AWS types, no clock, no I/O. The handlers
//! read a [`ChannelState`], call these functions with the time, and write the
//! returned state back with a condition on [`ChannelState::version`], so every
//! decision about a channel is atomic however many thumbnails of it are in
//! flight.
//!
//! The rules:
//! * every detected label whose product is in the catalog and whose confidence
//!   reaches that product's `min_confidence` counts (not only the first);
//! * a product shows for its `display_seconds`; a sighting inside that window
//!   neither re-shows nor extends it (no flicker, no card that never leaves);
//! * after the window it cannot show again until `cooldown_seconds` passed;
//! * at most `max_active` products show at once on a channel; among new
//!   candidates the most confident win, and cards already up keep their slot.

use ad_contract::{Catalog, Cue, CueItem, ProductId, ShowId};
use std::collections::{BTreeMap, BTreeSet};

pub use crate::calendar::UnixSeconds;

/// A detection in one thumbnail, shaped like Rekognition's CustomLabel.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub label: String,
    /// 0 to 100.
    pub confidence: f32,
    pub bounding_box: Option<BoundingBox>,
}

/// Ratios of the image size, as Rekognition reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

/// One product's record on a channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProductState {
    pub shown_at: UnixSeconds,
    /// The show (display window) this record is: the state version written
    /// when it started. Cues carry it, so every viewer's events and every
    /// scan of the card's QR code name the same show.
    pub show: ShowId,
    /// The card shows while `now < visible_until`.
    pub visible_until: UnixSeconds,
    /// It may show again once `now >= cooldown_until`.
    pub cooldown_until: UnixSeconds,
    /// Confidence of the sighting that showed it; orders the overlay stack.
    pub confidence: f32,
}

/// Everything the pipeline remembers about one channel (one DynamoDB item).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChannelState {
    /// Optimistic-concurrency version: 0 means "no item yet". Every write is
    /// conditional on the version read and stores [`next_version`]. Cues
    /// carry the version they were built from as their `seq`.
    pub version: u64,
    pub products: BTreeMap<ProductId, ProductState>,
    /// Name of the workflow execution that currently owns re-publishing for
    /// this channel, and until when its lease holds. A show starts a new
    /// execution only when no lease holds, so a second start is a no-op.
    pub workflow: String,
    pub lease_until: UnixSeconds,
    /// Automatic showing is paused while `now < paused_until` (the
    /// operator's `pause`): detections still decide, and report, what they
    /// would do, but none shows a card. The operator's own `show` still
    /// does. A pause always ends (at most [`MAX_PAUSE_SECONDS`]), so a
    /// forgotten one cannot silence a channel for good.
    pub paused_until: UnixSeconds,
    /// Products the operator marked sold out on this channel: their cards
    /// still show (a host may hold the product up) but say so, with no QR
    /// code and no link. Kept across a stream reset, until marked back.
    pub sold_out: BTreeSet<ProductId>,
}

/// The longest pause: a long show. Resuming earlier is the operator's call.
pub const MAX_PAUSE_SECONDS: u64 = 12 * 3600;

/// Knobs that are not per product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// At most this many products show at once on a channel (K).
    pub max_active: usize,
    /// The workflow re-publishes the current cue this often (R).
    pub republish_seconds: u64,
}

impl Default for Rules {
    fn default() -> Self {
        // The defaults of the one limits table (backend/limits.json).
        Self {
            max_active: crate::limits::max_active_products().default as usize,
            republish_seconds: crate::limits::republish_seconds().default,
        }
    }
}

impl Rules {
    /// How long a workflow's claim on a channel holds without a renewal. Each
    /// tick renews it; the margin covers a slow Lambda start or a delayed
    /// state transition. If an execution dies, the next show after this
    /// starts a fresh one.
    pub fn lease_seconds(&self) -> u64 {
        2 * self.republish_seconds + 60
    }
}

/// What happened to one sighted label or product.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Newly shown by this thumbnail.
    Shown,
    /// Already on screen; the sighting changes nothing.
    AlreadyShowing { seconds_left: u64 },
    /// Shown recently; may show again in `seconds_left`.
    CoolingDown { seconds_left: u64 },
    /// Below the product's `min_confidence`.
    BelowConfidence { min_confidence: f32 },
    /// Eligible, but `max_active` products are already showing or more
    /// confident ones took the free slots.
    OverLimit,
    /// The label means no product in the catalog.
    UnknownLabel,
    /// Eligible, but the operator paused automatic showing for
    /// `seconds_left` more.
    Paused { seconds_left: u64 },
}

impl Outcome {
    /// A short word for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Shown => "shown",
            Outcome::AlreadyShowing { .. } => "already_showing",
            Outcome::CoolingDown { .. } => "cooling_down",
            Outcome::BelowConfidence { .. } => "below_confidence",
            Outcome::OverLimit => "over_limit",
            Outcome::UnknownLabel => "unknown_label",
            Outcome::Paused { .. } => "paused",
        }
    }
}

/// The verdict on one detected label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelDecision {
    pub label: String,
    pub product: Option<ProductId>,
    pub confidence: f32,
    pub outcome: Outcome,
}

/// A state transition of one channel, and what follows from it. Every change
/// to a channel is one of these, made by a function of this module
/// ([`decide`], [`reset`], [`release_lease`], [`force_show`], [`clear_all`];
/// [`tick`] makes a [`TickPlan`]). The handlers only carry it out: write
/// `new_state` conditional on the version read, then publish `cue`, then
/// start `start_workflow`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// One entry per detection, in input order ([`decide`] only).
    pub labels: Vec<LabelDecision>,
    /// The state to write (conditional on the version read), when anything
    /// changed.
    pub new_state: Option<ChannelState>,
    /// The cue to publish when the overlay set changed.
    pub cue: Option<Cue>,
    /// Start the workflow with this execution name (this write takes the lease).
    pub start_workflow: Option<String>,
}

impl Decision {
    /// Nothing to write, publish or start.
    pub fn unchanged() -> Self {
        Self::default()
    }

    /// Write `new_state`; nothing to publish or start.
    pub fn write(new_state: ChannelState) -> Self {
        Self {
            new_state: Some(new_state),
            ..Self::default()
        }
    }

    /// Also publish `cue` once the write holds.
    pub fn publishing(self, cue: Cue) -> Self {
        Self {
            cue: Some(cue),
            ..self
        }
    }

    /// Also start the workflow execution `name` (when `Some`) once the write
    /// holds: the write took its lease.
    pub fn starting(self, name: Option<String>) -> Self {
        Self {
            start_workflow: name,
            ..self
        }
    }

    /// The verdicts on a thumbnail's labels.
    fn with_labels(self, labels: Vec<LabelDecision>) -> Self {
        Self { labels, ..self }
    }

    /// The products this thumbnail showed, each once.
    pub fn shown(&self) -> Vec<&ProductId> {
        let mut shown: Vec<&ProductId> = Vec::new();
        for d in &self.labels {
            if let (Outcome::Shown, Some(id)) = (&d.outcome, &d.product) {
                if !shown.contains(&id) {
                    shown.push(id);
                }
            }
        }
        shown
    }
}

/// A transition whose new state is written conditionally, so the handlers'
/// one save-with-retry loop serves [`Decision`] and [`TickPlan`] alike.
pub trait StateChange {
    /// The state to write, or `None` when nothing changes.
    fn new_state(&self) -> Option<&ChannelState>;
}

impl StateChange for Decision {
    fn new_state(&self) -> Option<&ChannelState> {
        self.new_state.as_ref()
    }
}

impl StateChange for TickPlan {
    fn new_state(&self) -> Option<&ChannelState> {
        self.new_state.as_ref()
    }
}

/// The version a write stores after reading `previous` at `now`: above
/// `previous`, and never below the clock in milliseconds (`now * 1000`).
///
/// Why the clock: players drop a cue whose `seq` (this version) is below the
/// newest they applied. A plain counter restarts at 1 when the item is gone
/// (DynamoDB's TTL, a restarted studio), and a page still open from before
/// would then drop every cue. Anchored to the clock, a new lifetime starts
/// above the old one as long as the old one averaged under 1,000 writes a
/// second, which PutMetadata's 5/s limit makes certain.
pub fn next_version(previous: u64, now: UnixSeconds) -> u64 {
    previous.saturating_add(1).max(now.saturating_mul(1000))
}

impl ChannelState {
    /// Products on screen at `now`, most confident first (ties by id, so the
    /// order is stable across re-publishes).
    pub fn active(&self, now: UnixSeconds) -> Vec<(&ProductId, &ProductState)> {
        let mut active: Vec<_> = self
            .products
            .iter()
            .filter(|(_, p)| p.visible_until > now)
            .collect();
        active.sort_by(|a, b| {
            b.1.confidence
                .total_cmp(&a.1.confidence)
                .then_with(|| a.0.cmp(b.0))
        });
        active
    }

    /// The level-triggered cue for `now`: the whole overlay set with the
    /// seconds each product has left, ordered by this state's version.
    pub fn cue_at(&self, now: UnixSeconds) -> Cue {
        Cue {
            seq: Some(self.version),
            channel: None,
            show: self
                .active(now)
                .into_iter()
                .map(|(id, p)| CueItem {
                    show: Some(p.show),
                    sold_out: self.sold_out.contains(id),
                    ..CueItem::new(
                        id.clone(),
                        u32::try_from(p.visible_until - now).unwrap_or(u32::MAX),
                    )
                })
                .collect(),
        }
    }

    /// Seconds left of the operator's pause, while automatic showing is
    /// paused.
    pub fn paused(&self, now: UnixSeconds) -> Option<u64> {
        (self.paused_until > now).then(|| self.paused_until - now)
    }

    /// True while a workflow execution holds the channel.
    pub fn lease_held(&self, now: UnixSeconds) -> bool {
        !self.workflow.is_empty() && self.lease_until > now
    }

    /// Drops records that no longer affect any decision, keeping the item small.
    fn prune(&mut self, now: UnixSeconds) {
        self.products
            .retain(|_, p| p.visible_until > now || p.cooldown_until > now);
    }

    /// When DynamoDB may delete the item (its TTL): a week after the last
    /// moment anything in it matters.
    pub fn expires_at(&self) -> UnixSeconds {
        let last = self
            .products
            .values()
            .map(|p| p.cooldown_until.max(p.visible_until))
            .chain([self.lease_until, self.paused_until])
            .max()
            .unwrap_or(0);
        last + 7 * 86_400
    }
}

impl ProductState {
    /// The record of `product` shown at `now` by the write of `version`: its
    /// display window, then its cooldown.
    pub fn shown(
        product: &ad_contract::Product,
        now: UnixSeconds,
        confidence: f32,
        version: u64,
    ) -> Self {
        let display = u64::from(product.display_seconds);
        Self {
            shown_at: now,
            show: ShowId(version),
            visible_until: now + display,
            cooldown_until: now + display + u64::from(product.cooldown_seconds),
            confidence,
        }
    }
}

/// When no workflow holds the channel, `new_state` takes the lease for a new
/// execution, whose name is returned (the caller starts it after the write).
fn take_lease_if_free(
    state: &ChannelState,
    new_state: &mut ChannelState,
    now: UnixSeconds,
    rules: &Rules,
    channel_id: &str,
) -> Option<String> {
    if state.lease_held(now) {
        return None;
    }
    let name = execution_name(channel_id, new_state.version);
    new_state.workflow = name.clone();
    new_state.lease_until = now + rules.lease_seconds();
    Some(name)
}

/// A workflow execution name for a channel: unique per start (the version
/// written with the start is unique per channel and, anchored to the clock,
/// across lifetimes of its state), at most 80 characters of `[A-Za-z0-9-_]`
/// as Step Functions requires.
pub fn execution_name(channel_id: &str, version: u64) -> String {
    let clean: String = channel_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(36)
        .collect();
    format!("{clean}-{version}")
}

/// Each detection's verdict as far as the catalog alone decides it, and the
/// best confidence per product over every qualifying label that means it.
/// Qualifying labels get a placeholder verdict that [`decide`] settles.
fn read_labels(
    detections: &[Detection],
    catalog: &Catalog,
) -> (Vec<LabelDecision>, BTreeMap<ProductId, f32>) {
    let mut best: BTreeMap<ProductId, f32> = BTreeMap::new();
    let mut labels = Vec::with_capacity(detections.len());
    for d in detections {
        let confidence = if d.confidence.is_finite() {
            d.confidence.clamp(0.0, 100.0)
        } else {
            0.0
        };
        let (product, outcome) = match catalog.product_for_label(&d.label) {
            None => (None, Outcome::UnknownLabel),
            Some(p) if confidence < p.min_confidence => (
                Some(p.id.clone()),
                Outcome::BelowConfidence {
                    min_confidence: p.min_confidence,
                },
            ),
            Some(p) => {
                let e = best.entry(p.id.clone()).or_insert(confidence);
                *e = e.max(confidence);
                // Placeholder, settled once all candidates are known.
                (Some(p.id.clone()), Outcome::OverLimit)
            }
        };
        labels.push(LabelDecision {
            label: d.label.clone(),
            product,
            confidence,
            outcome,
        });
    }
    (labels, best)
}

/// Splits the sighted products into those the channel's state already
/// settles (on screen, cooling down) and those eligible to show now.
fn split_candidates(
    state: &ChannelState,
    best: BTreeMap<ProductId, f32>,
    now: UnixSeconds,
) -> (BTreeMap<ProductId, Outcome>, Vec<(ProductId, f32)>) {
    let mut settled = BTreeMap::new();
    let mut eligible = Vec::new();
    for (id, confidence) in best {
        match state.products.get(&id) {
            Some(p) if p.visible_until > now => {
                let seconds_left = p.visible_until - now;
                settled.insert(id, Outcome::AlreadyShowing { seconds_left });
            }
            Some(p) if p.cooldown_until > now => {
                let seconds_left = p.cooldown_until - now;
                settled.insert(id, Outcome::CoolingDown { seconds_left });
            }
            _ => eligible.push((id, confidence)),
        }
    }
    (settled, eligible)
}

/// Decides what one thumbnail's detections do to a channel.
///
/// `channel_id` only names a workflow execution if one must start.
pub fn decide(
    detections: &[Detection],
    catalog: &Catalog,
    state: &ChannelState,
    now: UnixSeconds,
    rules: &Rules,
    channel_id: &str,
) -> Decision {
    let (mut labels, best) = read_labels(detections, catalog);
    let (mut settled, mut eligible) = split_candidates(state, best, now);
    eligible.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let free = rules.max_active.saturating_sub(state.active(now).len());

    let mut new_state = state.clone();
    new_state.prune(now);
    let version = next_version(state.version, now);
    let mut any_shown = false;
    let paused = state.paused(now);
    for (i, (id, confidence)) in eligible.into_iter().enumerate() {
        if let Some(seconds_left) = paused {
            settled.insert(id, Outcome::Paused { seconds_left });
        } else if i < free {
            // A product listed in `best` is always in the catalog.
            if let Some(product) = catalog.get(&id) {
                new_state.products.insert(
                    id.clone(),
                    ProductState::shown(product, now, confidence, version),
                );
                any_shown = true;
                settled.insert(id, Outcome::Shown);
            }
        } else {
            settled.insert(id, Outcome::OverLimit);
        }
    }

    // Each product's verdict goes on every label of it.
    for d in &mut labels {
        if let (Some(id), Outcome::OverLimit) = (&d.product, &d.outcome) {
            if let Some(o) = settled.get(id) {
                d.outcome = o.clone();
            }
        }
    }

    // Cards up with no workflow holding the channel (its start failed, or it
    // died) also need a write: this thumbnail restarts the workflow.
    let orphaned = !state.lease_held(now) && !new_state.active(now).is_empty();
    if !any_shown && !orphaned {
        return Decision::unchanged().with_labels(labels);
    }
    new_state.version = version;
    let start_workflow = take_lease_if_free(state, &mut new_state, now, rules, channel_id);
    let cue = any_shown.then(|| new_state.cue_at(now));
    Decision {
        cue,
        ..Decision::write(new_state)
    }
    .starting(start_workflow)
    .with_labels(labels)
}

/// An execution hands over to a fresh one after this many steps, well inside
/// Step Functions' 25,000-event history limit (about 8 events a step).
pub const MAX_WORKFLOW_STEPS: u64 = 1000;

/// What one workflow step does.
#[derive(Debug, Clone, PartialEq)]
pub struct TickPlan {
    /// The cue to (re-)publish; a clear cue when the last product ended.
    /// `None` when this execution no longer owns the channel.
    pub cue: Option<Cue>,
    /// The state to write (lease renewed, handed over or released).
    pub new_state: Option<ChannelState>,
    /// The workflow ends after this step.
    pub done: bool,
    /// Seconds until the next step: the republish period, or sooner if a
    /// display window ends first, so the clear goes out on time.
    pub wait_seconds: u64,
    /// Hand-over: this execution took its last step and `new_state` gives
    /// the channel to a fresh execution of this name, to start after the
    /// write.
    pub successor: Option<String>,
}

impl TickPlan {
    /// This execution no longer owns the channel: end without a write.
    fn bow_out() -> Self {
        Self {
            cue: None,
            new_state: None,
            done: true,
            wait_seconds: 0,
            successor: None,
        }
    }
}

/// Step `iteration` (0-based) of the re-publishing workflow of `execution`
/// for a channel. After [`MAX_WORKFLOW_STEPS`] steps a channel that still
/// shows cards passes to a successor execution (named from `channel_id`).
pub fn tick(
    state: &ChannelState,
    catalog: &Catalog,
    now: UnixSeconds,
    rules: &Rules,
    execution: &str,
    iteration: u64,
    channel_id: &str,
) -> TickPlan {
    if state.workflow != execution {
        // Another execution took over (this one's lease lapsed) or the channel
        // was reset: bow out without publishing.
        return TickPlan::bow_out();
    }
    let mut new_state = state.clone();
    // A product taken out of the catalog stops showing at the next step;
    // its cooldown stays, so it does not return if it is put back at once.
    for (id, s) in new_state.products.iter_mut() {
        if catalog.get(id).is_none() && s.visible_until > now {
            s.visible_until = now;
        }
    }
    new_state.prune(now);
    new_state.version = next_version(state.version, now);
    let ends: Vec<UnixSeconds> = new_state
        .active(now)
        .iter()
        .map(|(_, p)| p.visible_until)
        .collect();
    if ends.is_empty() {
        new_state.workflow.clear();
        new_state.lease_until = 0;
        return TickPlan {
            cue: Some(Cue::clear_at(new_state.version)),
            new_state: Some(new_state),
            done: true,
            wait_seconds: 0,
            successor: None,
        };
    }
    let next_end = ends
        .iter()
        .map(|until| until - now)
        .min()
        .unwrap_or(rules.republish_seconds);
    new_state.lease_until = now + rules.lease_seconds();
    let successor = (iteration + 1 >= MAX_WORKFLOW_STEPS).then(|| {
        let name = execution_name(channel_id, new_state.version);
        new_state.workflow = name.clone();
        name
    });
    TickPlan {
        // The same overlay set as `state` less removed products (pruning
        // drops only ended cards), ordered by the version this step writes.
        cue: Some(new_state.cue_at(now)),
        new_state: Some(new_state),
        done: successor.is_some(),
        wait_seconds: rules.republish_seconds.min(next_end).max(1),
        successor,
    }
}

/// The stream ended (IVS said ChannelNotBroadcasting): forget everything, so
/// the next broadcast starts fresh, with no stale card or cooldown. A channel
/// with no state stays without. The operator's pause stays: a broadcaster
/// who drops and reconnects mid-show must not get automatic cards back.
pub fn reset(state: &ChannelState, now: UnixSeconds) -> Decision {
    if state.version == 0 {
        return Decision::unchanged();
    }
    Decision::write(ChannelState {
        version: next_version(state.version, now),
        paused_until: state.paused_until,
        sold_out: state.sold_out.clone(),
        ..ChannelState::default()
    })
}

/// Operator: mark `product` sold out on the channel (`sold_out`), or back
/// in stock. A card showing now is re-sent at once, saying so; later cards
/// of the product say so too. Unchanged when it changes nothing.
pub fn set_sold_out(
    state: &ChannelState,
    product: &ProductId,
    sold_out: bool,
    now: UnixSeconds,
) -> Decision {
    if state.sold_out.contains(product) == sold_out {
        return Decision::unchanged();
    }
    let mut new_state = state.clone();
    new_state.prune(now);
    if sold_out {
        new_state.sold_out.insert(product.clone());
    } else {
        new_state.sold_out.remove(product);
    }
    new_state.version = next_version(state.version, now);
    let showing = new_state
        .products
        .get(product)
        .is_some_and(|p| p.visible_until > now);
    let decision = Decision::write(new_state.clone());
    if showing {
        decision.publishing(new_state.cue_at(now))
    } else {
        decision
    }
}

/// Operator: pause automatic showing for `seconds` (at most
/// [`MAX_PAUSE_SECONDS`]; a pause already running is replaced), or resume
/// it (`seconds` = 0). Cards on screen stay until their end (`clear_all`
/// takes them off); no cue changes, so none is published. Unchanged when
/// it changes nothing.
pub fn set_pause(state: &ChannelState, seconds: u64, now: UnixSeconds) -> Decision {
    let paused_until = if seconds == 0 {
        0
    } else {
        now.saturating_add(seconds.min(MAX_PAUSE_SECONDS))
    };
    if paused_until == state.paused_until || (seconds == 0 && state.paused(now).is_none()) {
        return Decision::unchanged();
    }
    let mut new_state = state.clone();
    new_state.prune(now);
    new_state.paused_until = paused_until;
    new_state.version = next_version(state.version, now);
    Decision::write(new_state)
}

/// Operator override: show `product` now, ignoring its cooldown, for its
/// display time. See [`pin`].
pub fn force_show(
    state: &ChannelState,
    catalog: &Catalog,
    product: &ProductId,
    now: UnixSeconds,
    rules: &Rules,
    channel_id: &str,
) -> Decision {
    pin(state, catalog, product, None, now, rules, channel_id)
}

/// Operator override: show `product` now, ignoring its cooldown, for
/// `seconds` (1 to [`ad_contract::MAX_DISPLAY_SECONDS`]) or else its
/// display time; its cooldown follows the card's end. When the channel is
/// at `max_active`, the card closest to its end makes room. Unchanged when
/// `product` is not in the catalog.
pub fn pin(
    state: &ChannelState,
    catalog: &Catalog,
    product: &ProductId,
    seconds: Option<u32>,
    now: UnixSeconds,
    rules: &Rules,
    channel_id: &str,
) -> Decision {
    let Some(p) = catalog.get(product) else {
        return Decision::unchanged();
    };
    let mut new_state = state.clone();
    new_state.prune(now);
    new_state.products.remove(product);
    loop {
        let active = new_state.active(now);
        if active.len() < rules.max_active.max(1) {
            break;
        }
        let Some(soonest) = active
            .iter()
            .min_by_key(|(_, s)| s.visible_until)
            .map(|(id, _)| (*id).clone())
        else {
            break;
        };
        if let Some(s) = new_state.products.get_mut(&soonest) {
            s.visible_until = now;
        }
    }
    let version = next_version(state.version, now);
    let mut shown = ProductState::shown(p, now, 100.0, version);
    if let Some(seconds) = seconds {
        let seconds = u64::from(seconds.clamp(1, ad_contract::MAX_DISPLAY_SECONDS));
        shown.visible_until = now + seconds;
        shown.cooldown_until = now + seconds + u64::from(p.cooldown_seconds);
    }
    new_state.products.insert(product.clone(), shown);
    new_state.version = version;
    let start = take_lease_if_free(state, &mut new_state, now, rules, channel_id);
    let cue = new_state.cue_at(now);
    Decision::write(new_state).publishing(cue).starting(start)
}

/// Operator override: take every card off now and publish the clear cue.
/// Cooldowns start now, so the products do not pop straight back on the next
/// thumbnail.
pub fn clear_all(state: &ChannelState, catalog: &Catalog, now: UnixSeconds) -> Decision {
    let mut new_state = state.clone();
    for (id, s) in new_state.products.iter_mut() {
        end_card(s, id, catalog, now);
    }
    new_state.prune(now);
    new_state.version = next_version(state.version, now);
    let cue = Cue::clear_at(new_state.version);
    Decision::write(new_state).publishing(cue)
}

/// Operator override: take `product`'s card off now (its cooldown starts
/// now) and publish the cue of the cards that remain. Unchanged when it is
/// not showing.
pub fn unpin(
    state: &ChannelState,
    catalog: &Catalog,
    product: &ProductId,
    now: UnixSeconds,
) -> Decision {
    let mut new_state = state.clone();
    match new_state.products.get_mut(product) {
        Some(s) if s.visible_until > now => end_card(s, product, catalog, now),
        _ => return Decision::unchanged(),
    }
    new_state.prune(now);
    new_state.version = next_version(state.version, now);
    let cue = new_state.cue_at(now);
    Decision::write(new_state).publishing(cue)
}

/// Ends a card showing at `now`; its cooldown starts now.
fn end_card(s: &mut ProductState, id: &ProductId, catalog: &Catalog, now: UnixSeconds) {
    if s.visible_until > now {
        s.visible_until = now;
        let cooldown = catalog.get(id).map_or(0, |p| u64::from(p.cooldown_seconds));
        s.cooldown_until = now + cooldown;
    }
}

/// The workflow `execution` could not start: give its lease back, so the
/// channel's next thumbnail tries again. Unchanged when another execution
/// holds the channel by now.
pub fn release_lease(state: &ChannelState, execution: &str, now: UnixSeconds) -> Decision {
    if state.workflow != execution {
        return Decision::unchanged();
    }
    Decision::write(ChannelState {
        workflow: String::new(),
        lease_until: 0,
        version: next_version(state.version, now),
        ..state.clone()
    })
}

#[cfg(test)]
mod tests;
