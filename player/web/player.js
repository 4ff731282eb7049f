// <ivs-ad-player playback-url="..." catalog="..."></ivs-ad-player>, and
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

/**
 * Mounts a player into `element`.
 * options: { playbackUrl, catalogUrl } or { playbackUrl, catalog } (catalog JSON text or object).
 * Resolves to a handle with unmount(), cue(text), cardCount().
 */
export async function mountPlayer(element, { playbackUrl, catalogUrl, catalog }) {
  if (!playbackUrl) throw new Error('ivs-ad-player: playback-url is required');
  addStyles();
  await loadWasm();
  const ivs = create({
    wasmWorker: new URL('amazon-ivs-wasmworker.min.js', here).href,
    wasmBinary: new URL('amazon-ivs-wasmworker.min.wasm', here).href,
  });
  // The IVS player needs an absolute URL; embedders may give a relative one.
  const handle = mount(element, ivs, new URL(playbackUrl, document.baseURI).href);
  players.set(element, handle);
  let text = catalog;
  let base = document.baseURI;
  if (text === undefined && catalogUrl) {
    base = new URL(catalogUrl, document.baseURI).href;
    const res = await fetch(base);
    if (!res.ok) throw new Error(`ivs-ad-player: catalog ${base} answered ${res.status}`);
    text = await res.text();
  }
  if (text !== undefined) {
    handle.setCatalog(typeof text === 'string' ? text : JSON.stringify(text), base);
  }
  return handle;
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
        catalogUrl: this.getAttribute('catalog') ?? undefined,
        catalog: inline,
      });
      this.dispatchEvent(new CustomEvent('ivs-ad-player-ready', { bubbles: true }));
    } catch (e) {
      console.error(e);
      box.textContent = String(e.message ?? e);
    }
  }

  disconnectedCallback() {
    this.handle?.unmount();
    this.handle = undefined;
  }
}

if (!customElements.get('ivs-ad-player')) customElements.define('ivs-ad-player', IvsAdPlayer);

export { qrSvg };
