// The operator's console: polls /console/api/view, draws what changed, and
// sends the operator's actions to /operator/<action>. Every time it shows
// comes from the server's clock (the view's `now`); the page's own clock
// only counts down between two views.
const POLL_MS = 1000;
const VERDICTS = {
  shown: ['Shown', 'ok'],
  already_showing: ['Already showing', 'ok'],
  cooling_down: ['Held by cooldown', 'held'],
  below_confidence: ['Below confidence', 'held'],
  over_limit: ['At the card limit', 'held'],
  unknown_label: ['Not in the catalog', 'held'],
  paused: ['Paused: not shown', 'paused'],
};

const $ = (id) => document.getElementById(id);
let token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
let view = null;
let fetchedAt = 0;
const drawn = {};
const images = new Map();

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const clock = (unix) => new Date(unix * 1000).toLocaleTimeString([], { hour12: false });
const duration = (s) => (s >= 120 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`);
// Seconds left of something ending at `until` (server clock).
const left = (until) => Math.max(0, Math.ceil(until - view.state.now - (performance.now() - fetchedAt) / 1000));

async function api(path, init = {}) {
  const headers = { authorization: `Bearer ${token}`, ...(init.headers ?? {}) };
  return fetch(path, { ...init, headers, cache: 'no-store' });
}

function problem(text) {
  $('problem').hidden = !text;
  $('problem').textContent = text ?? '';
}

async function poll() {
  try {
    const response = await api('/console/api/view');
    if (response.status === 401) {
      showLogin('The token was not accepted. Paste the token the studio printed.');
      return;
    }
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    view = await response.json();
    fetchedAt = performance.now();
    problem(null);
    draw();
  } catch (e) {
    problem(`The console cannot reach the studio (${e.message ?? e}); retrying.`);
  }
}

// Redraws a part only when what it shows changed: nothing moves on the page
// unless something happened.
function redraw(part, key, paint) {
  const text = JSON.stringify(key);
  if (drawn[part] === text) return;
  drawn[part] = text;
  paint();
}

function draw() {
  $('main').hidden = false;
  const state = view.state;
  const pausedLeft = state.paused ? left(state.paused_until) : 0;
  redraw('mode', [state.paused, pausedLeft], () => {
    const mode = $('mode');
    mode.className = `mode ${state.paused ? 'paused' : 'live'}`;
    mode.textContent = state.paused
      ? `PAUSED: no automatic cards reach viewers (${duration(pausedLeft)} left). Pins still show.`
      : 'AUTOMATIC: cards show as products are found';
    const pause = $('pause');
    pause.replaceChildren(state.paused ? 'Resume automatic cards ' : 'Pause automatic cards ', el('kbd', { text: 'P' }));
    pause.setAttribute('aria-pressed', String(state.paused));
  });
  drawPlayer();
  drawProducts();
  drawLatest();
  drawStrip();
  drawAudit();
  redraw('catalog', view.catalog_version, loadCatalog);
}

function drawPlayer() {
  if ($('player').dataset.ready) return;
  $('player').dataset.ready = 'yes';
  const player = el('ivs-ad-player', { 'playback-url': view.playback_url, catalog: view.catalog_url ?? undefined });
  $('player').append(player);
  import('/player.js').catch(() => {
    $('player').replaceChildren(el('p', { class: 'note', text: 'The player is not built here (player/build.sh), so the stream is not shown.' }));
  });
  if (!view.catalog_url) {
    $('player').append(el('p', { class: 'note', text: 'The studio does not host this catalog, so the console\'s player shows no cards.' }));
  }
}

function productState(id) {
  const s = view.state.products[id];
  const soldOut = (view.state.sold_out ?? []).includes(id);
  const sold = soldOut ? ' · SOLD OUT' : '';
  if (s && s.showing) return { word: `Showing, ${duration(left(s.visible_until))} left${sold}`, tone: 'ok', showing: true, soldOut };
  if (s && s.cooling_down) return { word: `Cooldown, ${duration(left(s.cooldown_until))} left${sold}`, tone: 'held', soldOut };
  return { word: soldOut ? 'Sold out' : 'Ready', tone: 'idle', soldOut };
}

function drawProducts() {
  const rows = view.products.map((p, i) => ({ p, i, s: productState(p.id), c: view.counts[p.id] ?? { impressions: 0, scans: 0 } }));
  redraw('products', rows.map((r) => [r.p, r.s, r.c]), () => {
    $('product-rows').replaceChildren(...rows.map(({ p, i, s, c }) => el('tr', { 'data-product': p.id },
      el('th', { scope: 'row' }, i < 9 ? el('kbd', { class: 'key', title: `Key ${i + 1} pins it`, text: String(i + 1) }) : null,
        el('span', { class: 'title', text: p.title }), el('span', { class: 'price', text: ` ${p.price}` })),
      el('td', { class: `status ${s.tone}`, text: s.word }),
      el('td', { class: 'count', text: `${c.impressions} / ${c.scans}` }),
      el('td', { class: 'row-actions' }, el('div', {},
        el('button', { type: 'button', class: 'big', 'data-action': 'pin', 'aria-label': `Pin ${p.title}`, onclick: () => pin(p) }, 'Pin'),
        el('button', { type: 'button', class: 'big', 'data-action': 'unpin', 'aria-label': `Unpin ${p.title}`, disabled: !s.showing, onclick: () => unpin(p) }, 'Unpin'),
        el('button', { type: 'button', class: 'big', 'data-action': 'sold-out', 'aria-label': `${p.title} sold out`, 'aria-pressed': String(s.soldOut), onclick: () => soldOut(p, !s.soldOut) }, 'Sold out'))),
    )));
    $('counts-note').textContent = view.counts_error
      ? `Counts unavailable: ${view.counts_error}`
      : 'Counts: every show of this channel, from the measurement store.';
  });
}

async function thumbnailUrl(seq) {
  if (images.has(seq)) return images.get(seq);
  const pending = api(`/console/api/thumbnails/${seq}`).then(async (r) => (r.ok ? URL.createObjectURL(await r.blob()) : null));
  images.set(seq, pending);
  // Keep the blobs of the sightings still listed; free the others.
  const keep = new Set((view.sightings ?? []).map((s) => s.seq));
  for (const [n, url] of images) {
    if (!keep.has(n) && n !== seq) {
      images.delete(n);
      url.then((u) => u && URL.revokeObjectURL(u));
    }
  }
  return pending;
}

const describe = (f) => {
  const [word] = VERDICTS[f.verdict] ?? [f.verdict];
  const extra = f.verdict === 'below_confidence' ? ` (needs ${f.min_confidence})`
    : f.seconds_left != null ? ` (${duration(f.seconds_left)})` : '';
  return `${f.product ?? f.label} ${Math.round(f.confidence)}%: ${word}${extra}`;
};

function drawLatest() {
  const latest = view.sightings[0];
  redraw('latest', latest?.seq ?? null, async () => {
    if (!latest) return;
    $('seen-when').textContent = `at ${clock(latest.at)}`;
    const frame = el('div', { class: 'frame' });
    const url = await thumbnailUrl(latest.seq);
    const img = url ? el('img', { src: url, alt: `Thumbnail of ${clock(latest.at)}` }) : el('p', { class: 'empty', text: 'This thumbnail\'s file is gone.' });
    frame.append(img);
    for (const f of latest.found) {
      if (!f.bounding_box) continue;
      const b = f.bounding_box;
      const tone = (VERDICTS[f.verdict] ?? [])[1] ?? 'held';
      frame.append(el('div', {
        class: `box ${tone}`,
        style: undefined,
        'data-label': f.label,
      }, el('span', { text: `${f.label} ${Math.round(f.confidence)}%` })));
      const box = frame.lastChild;
      // Style from script is a CSSOM property set, allowed under style-src 'self'.
      Object.assign(box.style, { left: `${b.left * 100}%`, top: `${b.top * 100}%`, width: `${b.width * 100}%`, height: `${b.height * 100}%` });
    }
    $('latest').replaceWith(frame);
    frame.id = 'latest';
    $('latest-caption').replaceChildren(...[latest.found.length
      ? el('ul', {}, ...latest.found.map((f) => el('li', { class: (VERDICTS[f.verdict] ?? [])[1] ?? 'held', text: describe(f) })))
      : el('span', { text: 'Nothing from the catalog found.' }),
      latest.cue ? el('p', { class: 'note' }, 'Cue sent: ', el('code', { class: 'cue', text: latest.cue })) : null].filter(Boolean));
  });
}

function drawStrip() {
  redraw('strip', view.sightings.map((s) => s.seq), async () => {
    const items = await Promise.all(view.sightings.map(async (s) => {
      const url = await thumbnailUrl(s.seq);
      return el('li', { 'data-seq': s.seq },
        url ? el('img', { src: url, alt: '' }) : el('div', { class: 'gone', text: 'file gone' }),
        el('p', { class: 'when', text: clock(s.at) }),
        s.found.length
          ? el('ul', {}, ...s.found.map((f) => el('li', { class: `verdict ${(VERDICTS[f.verdict] ?? [])[1] ?? 'held'}`, 'data-verdict': f.verdict, text: describe(f) })))
          : el('p', { class: 'verdict idle', text: 'Nothing found' }));
    }));
    $('strip').replaceChildren(...items);
  });
}

function drawAudit() {
  redraw('audit', [view.audit.map((a) => a.id), view.audit_error], () => {
    $('audit-rows').replaceChildren(...view.audit.map((a) => {
      let request = {};
      let answer = {};
      try { request = JSON.parse(a.request); } catch { /* shown as sent */ }
      try { answer = JSON.parse(a.answer); } catch { /* shown as sent */ }
      const what = [a.action, request.product, request.seconds ? `${request.seconds} s` : null].filter(Boolean).join(' ');
      const result = a.status === 200
        ? (answer.published ? `cue ${answer.published}` : answer.paused_until ? `paused until ${clock(answer.paused_until)}` : 'done')
        : `refused (${a.status}): ${answer.error ?? a.answer}`;
      return el('tr', { 'data-action': a.action }, el('td', { text: clock(a.at) }), el('td', { text: a.caller }), el('td', { text: what }), el('td', { text: result }));
    }));
    if (view.audit_error) $('audit-rows').append(el('tr', {}, el('td', { colspan: 4, text: `The audit log cannot be read: ${view.audit_error}` })));
  });
}

async function act(action, body, said) {
  try {
    const response = await api(`/operator/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: view.channel, ...body }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error ?? `${response.status}`);
    $('said').textContent = `${said} (${clock(answer.at)})`;
    problem(null);
  } catch (e) {
    problem(`${said}: not done. ${e.message ?? e}`);
  }
  await poll();
}

function pinSeconds() {
  const given = $('pin-seconds').value.trim();
  if (!given) return undefined;
  const n = Number(given);
  if (!Number.isInteger(n) || n < 1 || n > 3600) {
    problem('Pin for: give a whole number of seconds from 1 to 3600, or leave it empty for the product\'s display time.');
    return null;
  }
  return n;
}

function pin(p) {
  const seconds = pinSeconds();
  if (seconds === null) return;
  act('pin', { product: p.id, seconds }, `Pinned ${p.title} for ${duration(seconds ?? p.display_seconds)}`);
}
const unpin = (p) => act('unpin', { product: p.id }, `Unpinned ${p.title}`);
const clear = () => act('clear', {}, 'Cleared all cards');
const soldOut = (p, sold) => (sold
  ? act('sold-out', { product: p.id }, `Marked ${p.title} sold out`)
  : act('in-stock', { product: p.id }, `Marked ${p.title} back in stock`));
const togglePause = () => (view.state.paused ? act('resume', {}, 'Resumed automatic cards') : act('pause', {}, 'Paused automatic cards'));

$('clear').addEventListener('click', () => view && clear());
$('pause').addEventListener('click', () => view && togglePause());
document.addEventListener('keydown', (e) => {
  if (!view || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (e.target.closest('input, textarea, select')) return;
  const digit = /^Digit([1-9])$/.exec(e.code)?.[1];
  const product = digit && view.products[Number(digit) - 1];
  if (product) {
    e.preventDefault();
    if (e.shiftKey) unpin(product); else pin(product);
  } else if (e.code === 'KeyC' && !e.shiftKey) {
    e.preventDefault();
    clear();
  } else if (e.code === 'KeyP' && !e.shiftKey) {
    e.preventDefault();
    togglePause();
  }
});

// The catalog desk: the catalog in effect and its versions, an editor for
// one product, and reference images tried before they are used. Every
// check is the server's (the contract's catalog reader, the detector): the
// page shows each problem beside its field.
let desk = null;
let editing = null; // { index (-1: new), references: [] }
const FIELDS = ['id', 'title', 'price', 'description', 'link_url', 'image_url', 'labels', 'wordmark', 'min_confidence', 'display_seconds', 'cooldown_seconds'];
const NUMBERS = new Set(['min_confidence', 'display_seconds', 'cooldown_seconds']);

async function loadCatalog() {
  const response = await api('/console/api/catalog');
  if (!response.ok) {
    problem(`The catalog cannot be read: ${await response.text()}`);
    return;
  }
  desk = await response.json();
  drawCatalog();
}

function drawCatalog() {
  $('catalog-version').textContent = desk.version ? `version ${desk.version} in effect` : '';
  $('catalog-rows').replaceChildren(...desk.catalog.products.map((p, i) => el('tr', { 'data-catalog-product': p.id },
    el('th', { scope: 'row' }, el('span', { class: 'title', text: p.title }), el('span', { class: 'price', text: ` ${p.price} · ${p.id}` })),
    el('td', { text: [(p.reference_images ?? []).length ? `${p.reference_images.length} reference image(s)` : null, p.wordmark ? `the word “${p.wordmark}”` : null].filter(Boolean).join(', ') || 'nothing: it is never detected' }),
    el('td', { class: 'row-actions' }, el('div', {},
      el('button', { type: 'button', class: 'big', 'aria-label': `Edit ${p.title}`, onclick: () => edit(i) }, 'Edit'),
      el('button', { type: 'button', class: 'big danger', 'aria-label': `Remove ${p.title}`, onclick: () => removeProduct(i) }, 'Remove'))))));
  $('version-rows').replaceChildren(...desk.versions.map((v) => el('tr', { 'data-version': v.number },
    el('td', { text: `${v.number}${v.number === desk.version ? ' (in effect)' : ''}` }),
    el('td', { text: `${new Date(v.saved_at * 1000).toLocaleString([], { hour12: false })}, ${v.by}` }),
    el('td', { text: v.note }),
    el('td', {}, v.number === desk.version ? null
      : el('button', { type: 'button', class: 'big', 'aria-label': `Restore version ${v.number}`, onclick: () => restore(v.number) }, 'Restore')))));
}

function edit(index) {
  const p = index >= 0 ? desk.catalog.products[index]
    : { min_confidence: 70, display_seconds: 20, cooldown_seconds: 60, labels: [], reference_images: [] };
  editing = { index, references: [...(p.reference_images ?? [])] };
  const form = $('editor');
  for (const name of FIELDS) {
    const value = p[name];
    form.elements[name].value = Array.isArray(value) ? value.join(', ') : (value ?? '');
  }
  $('editor-h').textContent = index >= 0 ? `Edit ${p.title}` : 'Add a product';
  $('reference-try').replaceChildren();
  $('reference-file').value = '';
  fieldProblems([]);
  drawReferences();
  form.hidden = false;
  form.elements.id.focus();
}

function drawReferences() {
  $('reference-list').replaceChildren(...editing.references.map((name, i) => el('li', {},
    el('code', { text: name }), ' ',
    el('button', { type: 'button', 'aria-label': `Remove reference ${name}`, onclick: () => { editing.references.splice(i, 1); drawReferences(); } }, 'Remove'))));
  if (!editing.references.length) $('reference-list').append(el('li', { class: 'note', text: 'None: without a reference image or a wordmark the product is never detected.' }));
}

function productFromForm() {
  const form = $('editor');
  const product = {};
  for (const name of FIELDS) {
    const raw = form.elements[name].value.trim();
    if (name === 'labels') {
      product.labels = raw ? raw.split(',').map((l) => l.trim()).filter(Boolean) : [form.elements.id.value.trim()];
    } else if (NUMBERS.has(name)) {
      // A number as a number; anything else as typed, for the server to name.
      product[name] = raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    } else if (name === 'wordmark' || name === 'description') {
      if (raw) product[name] = raw;
    } else {
      product[name] = raw;
    }
  }
  if (editing.references.length) product.reference_images = editing.references;
  return product;
}

// Problems beside their fields: the contract names them "product #n".
function fieldProblems(problems) {
  for (const node of document.querySelectorAll('.field-problem')) node.remove();
  for (const input of $('editor').querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  const rest = [];
  const position = editing ? (editing.index >= 0 ? editing.index : desk.catalog.products.length) + 1 : 0;
  for (const p of problems) {
    const field = p.field.replace(/\[.*$/, '');
    const mine = p.product === `#${position}` || p.product.endsWith(`(#${position})`);
    const input = mine && $('editor').elements[field];
    if (input && input.name) {
      input.setAttribute('aria-invalid', 'true');
      input.closest('label').append(el('span', { class: 'field-problem', text: p.message }));
    } else {
      rest.push(`${p.product ? `${p.product}, ` : ''}${p.field}: ${p.message}`);
    }
  }
  $('editor-problems').hidden = !rest.length;
  $('editor-problems').textContent = rest.join('\n');
}

async function putCatalog(products, note, said) {
  const response = await api('/console/api/catalog', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ catalog: { products }, note }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) return answer;
  $('said').textContent = `${said}: version ${answer.version} in effect (${clock(answer.at)})`;
  problem(null);
  await loadCatalog();
  await poll();
  return null;
}

async function saveProduct(e) {
  e.preventDefault();
  const product = productFromForm();
  const products = [...desk.catalog.products];
  if (editing.index >= 0) products[editing.index] = product; else products.push(product);
  const refused = await putCatalog(products, `${editing.index >= 0 ? 'edited' : 'added'} ${product.id}`, `Saved ${product.title || product.id}`);
  if (!refused) {
    $('editor').hidden = true;
    editing = null;
    return;
  }
  fieldProblems(refused.problems ?? [{ product: '', field: 'catalog', message: refused.error ?? 'refused' }]);
  const first = $('editor').querySelector('[aria-invalid]');
  (first ?? $('editor-problems')).focus?.();
}

async function removeProduct(index) {
  const p = desk.catalog.products[index];
  const products = desk.catalog.products.filter((_, i) => i !== index);
  const refused = await putCatalog(products, `removed ${p.id}`, `Removed ${p.title} (restore the version before to undo)`);
  if (refused) problem(`${p.title} not removed: ${(refused.problems ?? []).map((x) => x.message).join('; ') || refused.error}`);
}

async function restore(number) {
  const response = await api('/console/api/catalog/restore', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: number }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    problem(`Version ${number} not restored: ${answer.error ?? response.status}`);
    return;
  }
  $('said').textContent = `Restored version ${number}: now version ${answer.version} (${clock(answer.at)})`;
  await loadCatalog();
  await poll();
}

async function tryReference() {
  const file = $('reference-file').files[0];
  if (!file) return;
  const out = $('reference-try');
  out.replaceChildren(el('p', { text: `Trying ${file.name} on the last thumbnails…` }));
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const response = await api('/console/api/references', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ image: btoa(binary), product: $('editor').elements.id.value.trim() || undefined }),
  });
  const answer = await response.json().catch(() => ({}));
  $('reference-file').value = '';
  if (!response.ok) {
    out.replaceChildren(el('p', { class: 'problem', 'data-reference': 'refused', text: `${file.name} cannot be a reference, so it was not added: ${answer.error ?? response.status}` }));
    return;
  }
  if (!editing.references.includes(answer.name)) editing.references.push(answer.name);
  drawReferences();
  const hits = answer.tries.filter((t) => t.found.length);
  const best = Math.max(0, ...hits.flatMap((t) => t.found.map((f) => f.confidence)));
  out.replaceChildren(el('p', { class: hits.length ? 'ok' : 'held', 'data-reference': 'tried', text: answer.tried_on
    ? `${file.name}: found on ${answer.found_in} of the last ${answer.tried_on} thumbnails${hits.length ? ` (best ${Math.round(best)}%)` : ''}. Added; save the catalog to use it.`
    : `${file.name} can be used (no thumbnail to try it on yet). Added; save the catalog to use it.` }));
  const strip = el('ol', { class: 'strip tries' });
  for (const t of hits.slice(0, 4)) {
    const url = await thumbnailUrl(t.seq);
    const frame = el('div', { class: 'frame' }, url ? el('img', { src: url, alt: `Thumbnail of ${clock(t.at)}` }) : null);
    for (const f of t.found) {
      const box = el('div', { class: 'box ok' }, el('span', { text: `${Math.round(f.confidence)}%` }));
      const b = f.bounding_box;
      Object.assign(box.style, { left: `${b.left * 100}%`, top: `${b.top * 100}%`, width: `${b.width * 100}%`, height: `${b.height * 100}%` });
      frame.append(box);
    }
    strip.append(el('li', {}, frame, el('p', { class: 'when', text: clock(t.at) })));
  }
  if (hits.length) out.append(strip);
}

$('add-product').addEventListener('click', () => desk && edit(-1));
$('editor').addEventListener('submit', saveProduct);
$('editor-cancel').addEventListener('click', () => { $('editor').hidden = true; editing = null; });
$('reference-file').addEventListener('change', tryReference);

function showLogin(why) {
  $('main').hidden = true;
  $('login').hidden = false;
  $('mode').textContent = why;
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  // The token stays in the fragment, which the browser never sends.
  history.replaceState(null, '', `#token=${encodeURIComponent(token)}`);
  $('login').hidden = true;
  poll();
});

if (!token) {
  showLogin('Paste the token the studio printed.');
} else {
  poll();
}
// Time left is counted down between views; the view itself every second.
setInterval(() => { if (token && !$('main').hidden) poll(); }, POLL_MS);
