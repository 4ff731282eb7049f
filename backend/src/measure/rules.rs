//! The admission rules: what the collector takes, refuses, rate-limits,
//! flags as a robot, and how a tracking link counts.

use super::*;

/// Why the collector refused a batch (nothing of it was counted), or one
/// event of it ([`Refused`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The body is not a batch (HTTP 400).
    #[error("{0}")]
    Malformed(#[from] MeasureError),
    /// An event names a product the catalog does not have (HTTP 400).
    #[error("events[{index}].product: {product} is not in the catalog")]
    UnknownProduct { index: usize, product: String },
    /// An event's tag is not the backend's for its show (HTTP 400).
    #[error("events[{index}].tag: not the tag of show {show} of {product} on {channel}; copy it from the cue")]
    ForgedShow {
        index: usize,
        channel: String,
        product: String,
        show: u64,
    },
    /// The viewer sent more than the rate allows (HTTP 429).
    #[error("viewer {viewer} sent more than {limit} events a minute; try again later")]
    RateLimited { viewer: String, limit: u32 },
    /// The client (address and user agent) sent more than the rate allows,
    /// whatever viewer ids it named (HTTP 429).
    #[error("this address sent more than {limit} events a minute; try again later")]
    ClientRateLimited { limit: u32 },
    /// The show started longer ago than its events count for (HTTP 400).
    #[error("events[{index}].show: show {show} started more than {days} days ago; its events no longer count")]
    ShowExpired { index: usize, show: u64, days: u64 },
    /// The show starts more than a day from now: not a show the backend
    /// started (HTTP 400).
    #[error(
        "events[{index}].show: show {show} starts more than a day from now; copy it from the cue"
    )]
    ShowInFuture { index: usize, show: u64 },
}

impl Rejection {
    /// The HTTP status both collectors answer with.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::RateLimited { .. } | Rejection::ClientRateLimited { .. } => 429,
            _ => 400,
        }
    }
}

/// Robots beyond the `isbot` crate's list (its patterns are maintained from
/// the crawler and browser lists it is tested against): link previewers and
/// tools that say what they are without a "bot" word.
const MORE_ROBOTS: &[&str] = &["preview", "headless", "lighthouse", "httpclient", "libwww"];

/// Whether a user agent is a known robot's (its events are recorded and
/// flagged, never counted): the `isbot` list, which matches "bot" as a word
/// (Googlebot, Discordbot/2.0) and not inside one (a Cubot phone is a
/// phone), and [`MORE_ROBOTS`]. An empty user agent counts as a robot:
/// every browser and phone camera app sends one.
pub fn is_robot(user_agent: &str) -> bool {
    static ROBOTS: std::sync::OnceLock<isbot::Bots> = std::sync::OnceLock::new();
    user_agent.trim().is_empty()
        || ROBOTS
            .get_or_init(|| {
                let mut bots = isbot::Bots::default();
                bots.append(MORE_ROBOTS);
                bots
            })
            .is_bot(user_agent)
}

/// At most `limit` events per viewer in any minute, over at most
/// `max_viewers` viewers remembered (the least recent is forgotten first),
/// so memory is bounded whatever arrives.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    max_viewers: usize,
    /// Per viewer: the minute and how many events it sent in it.
    pub(super) windows: HashMap<String, (UnixSeconds, u32)>,
    order: VecDeque<String>,
}

impl RateLimiter {
    pub fn new(limit: u32, max_viewers: usize) -> Self {
        Self {
            limit,
            max_viewers: max_viewers.max(1),
            windows: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Takes `n` events of `viewer`'s budget at `now`; false (and nothing
    /// taken) when that would pass the limit.
    pub fn admit(&mut self, viewer: &str, n: u32, now: UnixSeconds) -> bool {
        let minute = now / 60;
        if !self.windows.contains_key(viewer) {
            while self.windows.len() >= self.max_viewers {
                match self.order.pop_front() {
                    Some(old) => {
                        self.windows.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(viewer.to_owned());
        }
        let entry = self.windows.entry(viewer.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1.saturating_add(n) > self.limit {
            return false;
        }
        entry.1 += n;
        true
    }
}

/// Events a viewer may send a minute. A card makes at most four events a
/// show; ten players on a page with a new card every few seconds stay far
/// below.
pub const EVENTS_PER_VIEWER_MINUTE: u32 = 240;
/// Events one client (a real address with one user agent) may send a
/// minute, whatever viewer ids it names: what stops a script that makes up
/// a viewer id per beacon. 150 viewers of one browser build behind one
/// address (a venue's NAT) each seeing a card a minute stay below; the edge's
/// per-address rule (docs/measurement.md) is the hard cap.
pub const EVENTS_PER_CLIENT_MINUTE: u32 = 600;
/// Viewers the rate limiter remembers (about 100 bytes each).
pub const RATE_LIMITED_VIEWERS: usize = 100_000;

/// The collector's rules, without storage: checks a batch or a link and says
/// what to record.
#[derive(Debug)]
pub struct Collector {
    /// Swapped when the operator changes the catalog; events for a product
    /// removed since are refused (`UnknownProduct`), its counts so far kept.
    catalog: std::sync::RwLock<std::sync::Arc<Catalog>>,
    signer: ShowSigner,
    rate: Mutex<RateLimiter>,
    /// Keyed by [`client_key`]: an address is never held raw.
    client_rate: Mutex<RateLimiter>,
}

/// A client as the rate limiter and link dedupe key it: a hash of its
/// address and user agent, so no address is kept in memory or written.
pub fn client_key(address: &str, user_agent: &str) -> String {
    let mut hash = Sha256::new();
    for part in [address, user_agent] {
        hash.update(part.as_bytes());
        hash.update(b"\n");
    }
    base64url(&hash.finalize()[..15])
}

impl Collector {
    pub fn new(catalog: Catalog, signer: ShowSigner) -> Self {
        Self {
            catalog: std::sync::RwLock::new(std::sync::Arc::new(catalog)),
            signer,
            rate: Mutex::new(RateLimiter::new(
                EVENTS_PER_VIEWER_MINUTE,
                RATE_LIMITED_VIEWERS,
            )),
            client_rate: Mutex::new(RateLimiter::new(
                EVENTS_PER_CLIENT_MINUTE,
                RATE_LIMITED_VIEWERS,
            )),
        }
    }

    pub fn catalog(&self) -> std::sync::Arc<Catalog> {
        match self.catalog.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Follows a changed catalog.
    pub fn set_catalog(&self, catalog: std::sync::Arc<Catalog>) {
        match self.catalog.write() {
            Ok(mut c) => *c = catalog,
            Err(poisoned) => *poisoned.into_inner() = catalog,
        }
    }

    /// Checks a beacon's body, each event on its own: the events to
    /// record and those refused with the reason (a product removed since
    /// the show, a forged tag, a malformed event), so that one bad event
    /// does not cost the others. The whole batch is refused only for a bad
    /// frame (not JSON, no viewer, too large) or over the viewer's or the
    /// client's rate. `client` is the sender's real address (never one it
    /// chose: see `collector::client_address`).
    pub fn accept_batch(
        &self,
        body: &str,
        client: &str,
        user_agent: &str,
        now: UnixSeconds,
    ) -> Result<Accepted, Rejection> {
        let batch = EventBatch::decode_each(body)?;
        let mut good = Vec::with_capacity(batch.events.len());
        let mut refused = Vec::new();
        for (index, event) in batch.events.into_iter().enumerate() {
            let checked = event
                .map_err(|bad| (bad.id, Rejection::from(bad.problem)))
                .and_then(
                    |e| match self.check_show(&e.show, TagUse::Player, index, now) {
                        Ok(()) => Ok(e),
                        Err(why) => Err((Some(e.id), why)),
                    },
                );
            match checked {
                Ok(e) => good.push(e),
                Err((id, why)) => refused.push(Refused {
                    index,
                    id: id.map(|id| id.as_str().to_owned()),
                    error: why.to_string(),
                }),
            }
        }
        let n = u32::try_from(good.len()).unwrap_or(u32::MAX);
        let admit = |limiter: &Mutex<RateLimiter>, key: &str| {
            limiter
                .lock()
                .map(|mut rate| rate.admit(key, n, now))
                .unwrap_or(false)
        };
        // The client first: a script rotating viewer ids then fills no
        // viewer's budget.
        if !good.is_empty() && !admit(&self.client_rate, &client_key(client, user_agent)) {
            return Err(Rejection::ClientRateLimited {
                limit: EVENTS_PER_CLIENT_MINUTE,
            });
        }
        if !good.is_empty() && !admit(&self.rate, batch.viewer.as_str()) {
            return Err(Rejection::RateLimited {
                viewer: batch.viewer.as_str().to_owned(),
                limit: EVENTS_PER_VIEWER_MINUTE,
            });
        }
        let robot = is_robot(user_agent);
        let events = good
            .into_iter()
            .map(|e| Recorded {
                event_id: e.id.as_str().to_owned(),
                viewer: batch.viewer.as_str().to_owned(),
                measure: e.kind.into(),
                channel: e.show.channel.as_str().to_owned(),
                product: e.show.product.as_str().to_owned(),
                show: e.show.show.0,
                at: now,
                robot,
                no_impression: false,
                replay: batch.replay,
            })
            .collect();
        Ok(Accepted { events, refused })
    }

    fn check_show(
        &self,
        show: &ShowRef,
        use_: TagUse,
        index: usize,
        now: UnixSeconds,
    ) -> Result<(), Rejection> {
        // The show id is the write that opened the window, in ms of the
        // clock (decision::next_version): so the tag, which covers the show,
        // also covers when its events stop counting.
        let started = show.show.0 / 1000;
        if started.saturating_add(SHOW_COUNTS_FOR_SECONDS) < now {
            return Err(Rejection::ShowExpired {
                index,
                show: show.show.0,
                days: SHOW_COUNTS_FOR_SECONDS / 86_400,
            });
        }
        if started > now.saturating_add(86_400) {
            return Err(Rejection::ShowInFuture {
                index,
                show: show.show.0,
            });
        }
        if self.catalog().get(&show.product).is_none() {
            return Err(Rejection::UnknownProduct {
                index,
                product: show.product.as_str().to_owned(),
            });
        }
        if !self.signer.verify(show, use_) {
            return Err(Rejection::ForgedShow {
                index,
                channel: show.channel.as_str().to_owned(),
                product: show.product.as_str().to_owned(),
                show: show.show.0,
            });
        }
        Ok(())
    }

    /// A tracking link followed: where to redirect and what to record, or
    /// `None` for anything that is not a real show's link (answer 404).
    /// `client` identifies the fetcher (its address; with the user agent),
    /// so the same client counts once per link per [`LINK_WINDOW_SECONDS`].
    /// Whether the fetch counts at all is [`link_fetch_counts`]'s call.
    pub fn follow_link(
        &self,
        token: &str,
        viewer: Option<&str>,
        client: &str,
        user_agent: &str,
        now: UnixSeconds,
    ) -> Option<Followed> {
        let link = TrackingLink::parse(token)?;
        let catalog = self.catalog();
        let product = catalog.get(&link.show.product)?;
        match self.check_show(&link.show, link.kind.into(), 0, now) {
            Ok(()) => {}
            // A link of an old show still takes the viewer to the product;
            // it no longer counts.
            Err(Rejection::ShowExpired { .. }) => {
                return Some(Followed {
                    location: product.link_url.clone(),
                    recorded: None,
                })
            }
            Err(_) => return None,
        }
        let viewer = viewer
            .and_then(|v| OpaqueId::parse(v).ok())
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let mut hash = Sha256::new();
        let window = (now / LINK_WINDOW_SECONDS).to_string();
        for part in [token, &client_key(client, user_agent), &window] {
            hash.update(part.as_bytes());
            hash.update(b"\n");
        }
        let digest = hash.finalize();
        let event_id = format!("l-{}", base64url(&digest[..15]));
        Some(Followed {
            location: product.link_url.clone(),
            recorded: Some(Recorded {
                event_id,
                viewer,
                measure: link.kind.into(),
                channel: link.show.channel.as_str().to_owned(),
                product: link.show.product.as_str().to_owned(),
                show: link.show.show.0,
                at: now,
                robot: is_robot(user_agent),
                no_impression: false,
                replay: link.replay,
            }),
        })
    }
}

/// A tracking link followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    /// Where to redirect: the product's catalog link.
    pub location: String,
    /// What to count; `None` for a show past [`SHOW_COUNTS_FOR_SECONDS`].
    pub recorded: Option<Recorded>,
}

/// A show's events and links count for this long after it started (the
/// issue's "the show's end plus 30 days"; a display window is minutes).
pub const SHOW_COUNTS_FOR_SECONDS: UnixSeconds = 30 * 86_400;

/// A link counts once per client (address and user agent) per link in a
/// window this long: a phone that scans twice, a page that reloads, a
/// script looping from one address. People behind one address with the same
/// browser count once per window (an undercount, the safe side for a count
/// advertisers pay by).
pub const LINK_WINDOW_SECONDS: UnixSeconds = 600;

/// Whether a fetch of a tracking link is a person following it: a GET that
/// is not a prefetch, prerender or preview (one of [`PURPOSE_HEADERS`]
/// saying so, as browsers and link previews send). A HEAD, a prefetch or a
/// prerender is answered like the GET (302) and counts nothing.
pub fn link_fetch_counts(method: &str, purpose: Option<&str>) -> bool {
    method.eq_ignore_ascii_case("GET")
        && !purpose.is_some_and(|p| {
            let p = p.to_ascii_lowercase();
            p.contains("prefetch") || p.contains("prerender") || p.contains("preview")
        })
}

/// The headers that say a fetch is speculative, most specific first.
pub const PURPOSE_HEADERS: [&str; 4] = ["sec-purpose", "purpose", "x-purpose", "x-moz"];
