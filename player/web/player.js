// <ivs-ad-player playback-url="..." catalog="..."></ivs-ad-player> (live),
// <ivs-ad-player recording="..." catalog="..."></ivs-ad-player> (a replay), and
// mountPlayer(element, options) for framework users. This file is the only
// hand-written JS: it creates the IVS web player (bundled in ivs-sdk.js),
// loads our wasm once, fetches the catalog and hands everything to Rust.
import { create } from './ivs-sdk.js';
import init, { mount, qrSvg } from './ivs_ad_player.js';

const here = new URL('.', import.meta.url);
// A player lives as long as its element, not only as long as the caller keeps
// its handle: a collected handle would stop the player.
const players = new WeakMap();
let wasmReady;
function loadWasm() {
  wasmReady ??= init({ module_or_path: new URL('ivs_ad_player_bg.wasm', here) });
  return wasmReady;
}

function addStyles() {
  if (document.querySelector('link[data-ivs-ad-player]')) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL('player.css', here).href;
  link.dataset.ivsAdPlayer = '';
  document.head.append(link);
}

// A catalog (or cues.json) URL that fails with a network error, 408, 429 or 5xx is asked
// again after 1, 2 and 4 s; a 4xx or an invalid catalog is final.
const CATALOG_RETRIES_MS = [1000, 2000, 4000];
const retriable = (status) => status === 408 || status === 429 || status >= 500;
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

// `what`: the attribute the URL came from, named in the error.
async function fetchText(url, what = 'catalog') {
  let problem;
  for (let attempt = 0; attempt <= CATALOG_RETRIES_MS.length; attempt++) {
    if (attempt > 0) await pause(CATALOG_RETRIES_MS[attempt - 1]);
    let res;
    try {
      res = await fetch(url);
    } catch (e) {
      problem = `could not be fetched (${e.message ?? e}); check the URL and that it allows this page's origin (CORS)`;
      continue;
    }
    if (res.ok) return res.text();
    problem = `answered HTTP ${res.status}`;
    if (!retriable(res.status)) throw new Error(`${what} ${url} ${problem}; check the ${what} attribute`);
  }
  throw new Error(`${what} ${url} ${problem} (${CATALOG_RETRIES_MS.length + 1} tries)`);
}

// A catalog given by URL is read again every 30 s, so an operator's change
// (a product added, edited or removed) reaches every viewer within a minute
// with no reload. `no-cache` revalidates with the ETag: an unchanged
// catalog costs a 304. A failed or invalid re-read keeps the catalog shown.
const CATALOG_REFRESH_MS = 30000;

function followCatalog(handle, url, first) {
  let last = first;
  let stopped = false;
  const timer = setInterval(async () => {
    try {
      const res = await fetch(url, { cache: 'no-cache' });
      if (!res.ok || stopped) return;
      const text = await res.text();
      if (text === last || stopped) return;
      handle.setCatalog(text, url);
      last = text;
    } catch (e) {
      console.warn(`ivs-ad-player: catalog ${url} not re-read (${e.message ?? e}); the catalog shown stays`);
    }
  }, CATALOG_REFRESH_MS);
  return () => { stopped = true; clearInterval(timer); };
}

// Measurement's browser side: which cards are on the page and at least half
// in view (one IntersectionObserver), whether the video plays and the tab is
// visible and focused, every 250 ms; the wasm (measure.rs) turns that into
// events and batches, posted here (fetch, then sendBeacon as the page hides). Opens and dismissals are
// seen in the capture phase, before the player's own handler removes the
// card. Kept in JS because the same through web-sys cost 6 KB of wasm.
const rand = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => (b % 36).toString(36)).join('');
// The viewer id: random per page load, shared by the page's players, never
// stored (no cookie, nothing personal). Measurement events carry it.
const viewer = rand(12);

function measureCards(element, handle, origin) {
  const url = `${origin}/measure/events`;
  const inView = new WeakMap();
  // A card removed from the page gets one last entry, and is let go then.
  // Observing a card twice is a no-op, so every card is observed each look.
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      inView.set(e.target, e.isIntersecting && e.intersectionRatio >= 0.5);
      if (!e.target.isConnected) observer.unobserve(e.target);
    }
  }, { threshold: 0.5 });
  // At least once: a batch goes by fetch (keepalive, so a page being left
  // still sends it) and is sent again until the collector answers it: taken,
  // or refused for good (a 4xx other than 429). A 429, a 5xx or no answer
  // waits 1, 2, 4 ... s (jittered) and tries again, 8 tries at most; at most
  // 8 batches wait, the oldest dropped first. A resent batch keeps its event
  // ids, so the collector counts it once. When the page hides, what waits
  // goes by sendBeacon, which outlives the page.
  const pending = [];
  let busy = 0;
  let tries = 0;
  let retryAt = 0;
  const send = () => {
    if (busy || !pending.length || performance.now() < retryAt) return;
    busy = 1;
    const body = pending[0];
    fetch(url, { method: 'POST', body, keepalive: true, credentials: 'omit' })
      .then((r) => r.status < 500 && r.status !== 429, () => false)
      .then((done) => {
        busy = 0;
        if (done || ++tries >= 8) {
          // (A beacon may have taken it meanwhile.)
          if (pending[0] === body) pending.shift();
          tries = 0;
        }
        retryAt = done ? 0 : performance.now() + 500 * 2 ** tries * (1 + Math.random());
        send();
      });
  };
  // flags for handle.measure: 1 playing, 2 tab visible and focused, 4 flush, 8 acted = open.
  const look = (flags, acted = '') => {
    const cards = [...element.querySelectorAll('.iap-card')];
    for (const c of cards) observer.observe(c);
    const video = element.querySelector('video');
    if (video && !video.paused && !video.ended && video.readyState >= 2) flags |= 1;
    if (document.visibilityState === 'visible' && document.hasFocus()) flags |= 2;
    const ids = cards.filter((c) => inView.get(c)).map((c) => c.querySelector('[data-id]')?.dataset.id);
    const body = handle.measure(flags, ids.join(' '), acted);
    if (body) pending.push(body);
    if (pending.length > 8) pending.shift();
    // Hiding: beacons (one the browser refuses waits for the next look).
    if (flags & 4) while (pending.length && navigator.sendBeacon(url, pending[0])) pending.shift();
    send();
  };
  const onHide = (e) => look(e.type === 'pagehide' || document.visibilityState === 'hidden' ? 4 : 0);
  // Capture phase: seen before the player's own handler removes the card.
  const onAction = (e) => {
    const t = e.target;
    const open = t.closest('.iap-open');
    const card = (open || t.closest('[data-action=dismiss]')) && t.closest('.iap-card');
    // Esc closes the newest card.
    const button = e.key === 'Escape' ? [...element.querySelectorAll('[data-id]')].pop() : card?.querySelector('[data-id]');
    if (button) look(open ? 8 : 0, button.dataset.id);
  };
  const targets = [[document, 'visibilitychange'], [window, 'blur'], [window, 'pagehide']];
  const stop = () => {
    look(4);
    clearInterval(timer);
    observer.disconnect();
    for (const [t, k] of targets) t.removeEventListener(k, onHide);
    element.removeEventListener('click', onAction, true);
    element.removeEventListener('keydown', onAction, true);
  };
  // A player whose element left the page without unmount() stops measuring,
  // so this timer does not keep it alive.
  const timer = setInterval(() => (element.isConnected ? look(0) : stop()), 250);
  for (const [t, k] of targets) t.addEventListener(k, onHide);
  element.addEventListener('click', onAction, true);
  element.addEventListener('keydown', onAction, true);
  return stop;
}

/**
 * Mounts a player into `element`.
 * options: { playbackUrl, catalogUrl } or { playbackUrl, catalog } (catalog JSON text or object);
 * for a replay, recordingUrl (a recording's media/hls/master.m3u8, as IVS and the
 * studio record it) instead of playbackUrl: the cards then follow the video's
 * time, from the cues.json beside it, with a product timeline on a scrub bar;
 * and optionally collectorUrl: the measurement collector's origin. With it, the
 * player reports impressions, viewable impressions, opens and dismissals there
 * (navigator.sendBeacon) and links QR codes and Open buttons through it; without
 * it, nothing is sent.
 * Resolves to a handle with unmount(), cue(text), cardCount() once the
 * catalog is in. A catalog that cannot be had does not stop the stream: the
 * video plays without cards, and the problem (naming the field and the fix
 * for an invalid catalog) goes to console.error and to an
 * `ivs-ad-player-error` event on `element`, with the message as `detail`.
 */
export async function mountPlayer(element, { playbackUrl, recordingUrl, catalogUrl, catalog, collectorUrl }) {
  playbackUrl = recordingUrl ?? playbackUrl;
  if (!playbackUrl) throw new Error('ivs-ad-player: playback-url or recording is required');
  addStyles();
  await loadWasm();
  const ivs = create({
    wasmWorker: new URL('amazon-ivs-wasmworker.min.js', here).href,
    wasmBinary: new URL('amazon-ivs-wasmworker.min.wasm', here).href,
  });
  // The IVS player needs an absolute URL; embedders may give a relative one.
  const origin = collectorUrl && new URL(collectorUrl, document.baseURI).origin;
  const handle = mount(element, ivs, new URL(playbackUrl, document.baseURI).href, origin || undefined, viewer, rand(6));
  players.set(element, handle);
  if (origin) {
    const stop = measureCards(element, handle, origin);
    const unmount = handle.unmount.bind(handle);
    handle.unmount = () => { stop(); unmount(); };
  }
  try {
    if (catalog !== undefined) {
      handle.setCatalog(typeof catalog === 'string' ? catalog : JSON.stringify(catalog), document.baseURI);
    } else if (catalogUrl) {
      const base = new URL(catalogUrl, document.baseURI).href;
      const text = await fetchText(base);
      handle.setCatalog(text, base);
      const stop = followCatalog(handle, base, text);
      const unmount = handle.unmount.bind(handle);
      handle.unmount = () => { stop(); unmount(); };
    } else {
      console.warn('ivs-ad-player: no catalog given (catalog attribute, inline JSON or setCatalog); no cards will show');
    }
  } catch (e) {
    report(element, e);
  }
  // After the catalog: the timeline's markers are titled from it.
  try {
    if (recordingUrl) replayBar(element, ivs, handle.setTimeline(await fetchText(new URL('cues.json', new URL(recordingUrl, document.baseURI)).href, 'recording')));
  } catch (e) {
    report(element, e);
  }
  return handle;
}

// mm:ss (hh:mm:ss from an hour on).
const clock = (s) => new Date(s * 1000).toISOString().slice(s < 3600 ? 14 : 11, 19);

// A replay's controls, drawn here rather than in the wasm (as a Leptos view
// they cost 6.6 KB gzipped, measured): the controls row gets Play/Pause, the
// scrub bar with a marker where each product's card begins (buttons, so
// reachable by Tab and named for screen readers) and the position; the
// arrow keys step 5 s. `lines`: setTimeline's answer, the length in ms, then
// "<ms> <title>" lines. A seek shows its cards at the wasm's next tick.
function replayBar(element, ivs, lines) {
  const video = element.querySelector('video');
  const [length, ...starts] = lines.split('\n');
  const duration = length / 1000 || 1;
  const box = element.querySelector('.iap-controls');
  box.classList.add('iap-replay');
  box.insertAdjacentHTML('beforeend', '<button class="iap-play">Pause</button><div class="iap-bar" role="group" aria-label="Cards in this show"><div class="iap-played"></div></div><span class="iap-time"></span>');
  const [play, bar, time] = [...box.children].slice(-3);
  const seek = (t) => ivs.seekTo(Math.min(Math.max(t, 0), duration));
  for (const line of starts) {
    if (!line) continue;
    const [ms] = line.split(' ', 1);
    const marker = document.createElement('button');
    marker.className = 'iap-marker';
    marker.dataset.at = ms / 1000;
    marker.title = marker.ariaLabel = `${line.slice(ms.length + 1)} at ${clock(ms / 1000)}`;
    marker.style.left = `${ms / length * 100}%`;
    bar.append(marker);
  }
  const show = () => {
    const t = video.currentTime;
    bar.firstChild.style.width = `${Math.min(100, t / duration * 100)}%`;
    time.textContent = `${clock(t)} / ${clock(duration)}`;
    play.textContent = video.paused ? 'Play' : 'Pause';
  };
  for (const e of ['timeupdate', 'play', 'pause']) video.addEventListener(e, show);
  play.onclick = () => (ivs.isPaused() ? ivs.play() : ivs.pause());
  bar.onclick = (e) => {
    const r = bar.getBoundingClientRect();
    seek(e.target.dataset.at ?? ((e.clientX - r.left) / r.width) * duration);
  };
  element.onkeydown = (e) => {
    const step = { ArrowLeft: -5, ArrowRight: 5 }[e.key];
    if (step) seek(video.currentTime + step);
  };
  show();
}

function report(element, e) {
  const message = String(e.message ?? e).replace(/^(ivs-ad-player: )?/, 'ivs-ad-player: ');
  console.error(message);
  element.dispatchEvent(new CustomEvent('ivs-ad-player-error', { bubbles: true, detail: message }));
}

class IvsAdPlayer extends HTMLElement {
  async connectedCallback() {
    const inline = this.querySelector('script[type="application/json"]')?.textContent;
    const box = document.createElement('div');
    box.className = 'iap-host';
    this.replaceChildren(box);
    try {
      this.handle = await mountPlayer(box, {
        playbackUrl: this.getAttribute('playback-url'),
        recordingUrl: this.getAttribute('recording') ?? undefined,
        catalogUrl: this.getAttribute('catalog') ?? undefined,
        catalog: inline,
        collectorUrl: this.getAttribute('collector') ?? undefined,
      });
      this.dispatchEvent(new CustomEvent('ivs-ad-player-ready', { bubbles: true }));
    } catch (e) {
      // Only a missing playback-url gets here: there is no player to show.
      console.error(e);
      box.textContent = String(e.message ?? e);
      this.dispatchEvent(new CustomEvent('ivs-ad-player-error', { bubbles: true, detail: box.textContent }));
    }
  }

  disconnectedCallback() {
    this.handle?.unmount();
    this.handle = undefined;
  }
}

if (!customElements.get('ivs-ad-player')) customElements.define('ivs-ad-player', IvsAdPlayer);

export { qrSvg };
