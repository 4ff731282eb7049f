// The measurement dashboard: live counters, impressions and scans per hour
// and product as SVG charts, the table of shows and a CSV download. It reads
// the report API (`/measure/report`, `/measure/hours`) and refreshes every
// two seconds. No library: the charts are a few SVG bars.
//
// Two ways in:
// * the studio (and `studio-dashboard`): a bearer token, from the address's
//   fragment (`#token=...`, never sent to a server) or typed in;
// * hosted with the player in AWS: `config.json` beside this page names the
//   report function URL and its region, and every request is signed with
//   AWS SigV4 (sigv4.js) from credentials the reader pastes. They stay in
//   this page's memory: never stored, gone with the tab.

import { signGet } from './sigv4.js';

// The studio counts each beacon at once; in AWS the aggregator adds a
// batch's sums at most about once a second a shard, and a refresh is a
// Query a day of the report's 31 (twice): the hosted page polls no faster
// than the counters change, and a tenth as often.
const REFRESH_MS = 2000;
const HOSTED_REFRESH_MS = 10000;
const COLOURS = ['#5b3cc4', '#d9480f', '#2b8a3e', '#1971c2', '#c2255c', '#e67700', '#0c8599', '#5c940d'];
const SVG = 'http://www.w3.org/2000/svg';

const params = new URLSearchParams(location.hash.slice(1));
let token = params.get('token') ?? '';
// The report API's origin: this page's own unless the address names one.
const api = (params.get('api') ?? '').replace(/\/$/, '');
const $ = (id) => document.getElementById(id);

// Hosted: { api, region } from config.json; the reader's credentials.
let iam = null;
let credentials = null;

async function fetchReport(path) {
  const url = `${iam ? iam.api : api}${path}`;
  const headers = iam
    ? await signGet(url, credentials, iam.region, 'lambda')
    : { Authorization: `Bearer ${token}` };
  const res = await fetch(url, { headers, cache: 'no-store' });
  if (res.status === 401) throw Object.assign(new Error('The token was refused.'), { auth: true });
  if (res.status === 403 && iam) {
    throw Object.assign(new Error('AWS refused these credentials: they must be current and allowed lambda:InvokeFunctionUrl on the report function (the stack\'s DashboardReaders policy).'), { auth: true });
  }
  if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}`);
  return res;
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const percent = (x) => `${(x * 100).toFixed(1)} %`;

// Live and replay are counted apart (the report's `audience`): the totals
// are live; the replays' own totals follow them.
function renderTotals(rows) {
  const shows = rows.filter((s) => s.audience !== 'replay');
  const replays = rows.filter((s) => s.audience === 'replay');
  const sum = (k, of = shows) => of.reduce((n, s) => n + s[k], 0);
  const impressions = sum('impressions');
  const viewable = sum('viewable');
  const opens = sum('opens');
  const scans = sum('scans');
  const totals = [
    ['impressions', impressions, 'Impressions'],
    ['viewable', viewable, 'Viewable impressions'],
    ['view-rate', impressions ? percent(viewable / impressions) : '–', 'View rate'],
    ['opens', opens, 'Opens'],
    ['scans', scans, 'QR scans'],
    ['ctr', impressions ? percent((opens + scans) / impressions) : '–', 'Click-through rate'],
    ['shows', shows.length, 'Shows'],
    ['replay-impressions', sum('impressions', replays), 'Replay impressions'],
    ['replay-scans', sum('scans', replays), 'Replay QR scans'],
  ];
  $('totals').replaceChildren(...totals.map(([key, value, label]) => {
    const box = el('div', { class: 'total', 'data-total': key });
    box.append(el('b', {}, String(value)), el('span', {}, label));
    return box;
  }));
}

// One grouped bar chart: hours along x, one bar per product.
function renderChart(container, hours, measure) {
  // Live hours; replays' hours carry `replay: true`.
  const rows = hours.filter((h) => h.measure === measure && !h.replay);
  const products = [...new Set(rows.map((r) => r.product))].sort();
  const slots = [...new Set(rows.map((r) => r.hour))].sort().slice(-24);
  if (!rows.length) {
    container.replaceChildren(el('p', { class: 'empty' }, `No ${measure}s yet.`));
    return;
  }
  const count = (hour, product) => rows
    .filter((r) => r.hour === hour && r.product === product)
    .reduce((n, r) => n + r.count, 0);
  const max = Math.max(1, ...slots.flatMap((h) => products.map((p) => count(h, p))));
  const W = 800, H = 200, left = 40, bottom = 24, top = 8;
  const plot = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${measure}s per hour and product` });
  plot.append(svg('line', { class: 'axis', x1: left, y1: H - bottom, x2: W, y2: H - bottom }));
  plot.append(svg('text', { x: left - 6, y: top + 10, 'text-anchor': 'end' }, String(max)));
  plot.append(svg('text', { x: left - 6, y: H - bottom, 'text-anchor': 'end' }, '0'));
  const slotW = (W - left) / slots.length;
  const barW = Math.max(2, (slotW * 0.8) / products.length);
  slots.forEach((hour, i) => {
    const x0 = left + i * slotW + slotW * 0.1;
    products.forEach((product, j) => {
      const n = count(hour, product);
      const h = ((H - bottom - top) * n) / max;
      const bar = svg('rect', {
        x: x0 + j * barW, y: H - bottom - h, width: barW - 1, height: h,
        fill: COLOURS[j % COLOURS.length], 'data-product': product, 'data-count': n,
      });
      bar.append(svg('title', {}, `${product} ${hour}:00 UTC: ${n}`));
      plot.append(bar);
    });
    plot.append(svg('text', { x: x0 + (slotW * 0.8) / 2, y: H - 6, 'text-anchor': 'middle' }, `${hour.slice(11)}h`));
  });
  const legend = el('div', { class: 'legend' });
  products.forEach((p, j) => {
    const item = el('span');
    // Through the CSSOM: the page's CSP refuses style attributes.
    const swatch = el('i');
    swatch.style.background = COLOURS[j % COLOURS.length];
    item.append(swatch, p);
    legend.append(item);
  });
  container.replaceChildren(plot, legend);
}

function renderShows(shows) {
  const body = $('shows').tBodies[0];
  body.replaceChildren(...shows.map((s) => {
    const row = el('tr');
    for (const v of [s.channel, s.product, s.show, s.audience ?? 'live', s.impressions, s.viewable, percent(s.view_rate),
      s.opens, s.scans, percent(s.click_through_rate)]) row.append(el('td', {}, String(v)));
    return row;
  }));
}

async function refresh() {
  try {
    const [shows, hours] = await Promise.all([
      fetchReport('/measure/report?format=json').then((r) => r.json()),
      fetchReport('/measure/hours').then((r) => r.json()),
    ]);
    renderTotals(shows);
    renderChart($('chart-impressions'), hours, 'impression');
    renderChart($('chart-scans'), hours, 'scan');
    renderShows(shows);
    $('main').hidden = false;
    $('login').hidden = true;
    $('iam-login').hidden = true;
    $('status').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $('status').textContent = e.message;
    if (e.auth) {
      $(iam ? 'iam-login' : 'login').hidden = false;
      return false;
    }
  }
  return true;
}

async function downloadCsv() {
  const text = await (await fetchReport('/measure/report?format=csv')).text();
  const link = el('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })), download: 'ad-report.csv' });
  document.body.append(link);
  link.click();
  link.remove();
}

async function loop() {
  if (await refresh()) setTimeout(loop, iam ? HOSTED_REFRESH_MS : REFRESH_MS);
}

$('csv').addEventListener('click', () => downloadCsv().catch((e) => { $('status').textContent = e.message; }));
$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('token').value.trim();
  loop();
});
$('iam-login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  credentials = {
    accessKeyId: $('access-key').value.trim(),
    secretAccessKey: $('secret-key').value.trim(),
    sessionToken: $('session-token').value.trim() || undefined,
  };
  // The form keeps nothing: the secret lives only in `credentials`.
  $('iam-login').reset();
  loop();
});

/** The hosted page's settings, or null when served by the studio. */
async function hostedConfig() {
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    if (!res.ok) return null;
    const config = await res.json();
    return typeof config.api === 'string' && typeof config.region === 'string'
      ? { api: config.api.replace(/\/$/, ''), region: config.region }
      : null;
  } catch {
    return null;
  }
}

iam = await hostedConfig();
if (iam) {
  $('status').textContent = 'Sign in with AWS credentials allowed to read the report.';
  $('iam-login').hidden = false;
} else if (token) loop();
else {
  $('status').textContent = 'A report token is needed.';
  $('login').hidden = false;
}
