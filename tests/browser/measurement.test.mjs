// Measurement in real headless Chromium: our player on the studio's demo
// page, measured cues sent with PutMetadata, and every figure read back from
// the studio's store (its report API and adctl), never from the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startStudio, launchChromium, putMetadata, waitLive, measuredCue, report, repo, decodeQr, settledQrSize,
} from './lib.mjs';

const dist = join(repo, 'player', 'dist');
const catalog = JSON.parse(readFileSync(join(repo, 'studio', 'demo', 'catalog.json'), 'utf8'));
const product = (id) => catalog.products.find((p) => p.id === id);
const CHANNEL = 'LocalStudio1';
const PHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
// Headless Chromium says "HeadlessChrome", which the collector rightly
// counts as a robot; the pages here present themselves as the desktop
// browser they are.
const DESKTOP = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36';

let studio, scratch;
const browsers = [];

before(async () => {
  assert.ok(existsSync(join(dist, 'player.js')), 'player/dist is built (player/build.sh)');
  studio = await startStudio(['--site', dist]);
  scratch = mkdtempSync(join(tmpdir(), 'measurement-test-'));
  await waitLive(studio.playback);
});

after(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  await studio?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

// Each show id is new (the clock in ms, as the backend's versions are).
let lastShow = 0;
function newShow() {
  lastShow = Math.max(lastShow + 1, Date.now());
  return lastShow;
}

// Pages of earlier tests are closed first: one still playing (a test that
// failed before its close) would count the next test's cards too.
const pages = [];

async function openDemo({ players = 1, width = 1100 } = {}) {
  for (const p of pages.splice(0)) await p.close().catch(() => {});
  const b = await launchChromium({ userAgent: DESKTOP });
  browsers.push(b);
  const page = await b.context.newPage();
  pages.push(page);
  await page.setViewportSize({ width, height: 800 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${studio.base}/`);
  if (players > 1) {
    // More players on the same page, under the first.
    await page.evaluate((n) => {
      const first = document.querySelector('ivs-ad-player');
      for (let i = 1; i < n; i += 1) {
        const more = document.createElement('ivs-ad-player');
        for (const a of ['playback-url', 'catalog', 'collector']) more.setAttribute(a, first.getAttribute(a));
        first.after(more);
      }
    }, players);
  }
  await page.waitForFunction((n) => document.querySelectorAll('.iap-root video').length === n, players);
  await page.waitForFunction(
    (n) => [...document.querySelectorAll('.iap-root video')].filter((v) => v.currentTime > 0.5).length === n,
    players, { timeout: 45000 });
  return { page, errors, browser: b };
}

const rowFor = async (show) => (await report(studio)).find((r) => r.show === show);

/** Polls the store until `check(row)` holds for the show (beacons go out every 2 s). */
async function waitForRow(show, check, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let row;
  while (Date.now() < deadline) {
    row = await rowFor(show);
    if (row && check(row)) return row;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`show ${show}: ${JSON.stringify(row)}`);
}

test('a card in view for 3 s is one impression and one viewable impression, re-published or not', async () => {
  const { page, errors } = await openDemo();
  const show = newShow();
  const cue = measuredCue(studio.dataDir, CHANNEL, [['kestrel', 20, show]]);
  assert.equal(await putMetadata(studio.base, cue), 204);
  await page.locator('.iap-card').waitFor({ timeout: 15000 });
  // The workflow re-sends the same show; nothing more is counted.
  await page.waitForTimeout(1500);
  assert.equal(await putMetadata(studio.base, measuredCue(studio.dataDir, CHANNEL, [['kestrel', 18, show]])), 204);
  await page.waitForTimeout(3000);
  const row = await waitForRow(show, (r) => r.viewable >= 1);
  await page.waitForTimeout(2500);
  const settled = await rowFor(show);
  assert.equal(settled.impressions, 1, JSON.stringify(settled));
  assert.equal(settled.viewable, 1, JSON.stringify(settled));
  assert.equal(row.product, 'kestrel');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a batch the collector did not take is sent again, and counted once', async () => {
  const { page, errors } = await openDemo();
  // The first batch: the collector takes it but its answer is lost (counted
  // once when it comes again); the second is answered 503, the third 429.
  const seen = [];
  await page.route('**/measure/events', async (route) => {
    const body = route.request().postData();
    seen.push(body);
    if (seen.length === 1) {
      await route.fetch();
      return route.abort('failed');
    }
    if (seen.length === 2) return route.fulfill({ status: 503, body: '{"error":"busy"}' });
    if (seen.length === 3) return route.fulfill({ status: 429, body: '{"error":"slow down"}' });
    return route.continue();
  });
  const show = newShow();
  assert.equal(await putMetadata(studio.base, measuredCue(studio.dataDir, CHANNEL, [['tidewater', 20, show]])), 204);
  await page.locator('.iap-card').waitFor({ timeout: 15000 });
  const row = await waitForRow(show, (r) => r.impressions >= 1 && r.viewable >= 1, 40000);
  await page.waitForTimeout(2500);
  const settled = await rowFor(show);
  assert.equal(settled.impressions, 1, JSON.stringify(settled));
  assert.equal(settled.viewable, 1, JSON.stringify(settled));
  assert.ok(seen.length >= 4, `${seen.length} posts`);
  // The same batch each time: its event ids, which make it count once.
  assert.equal(seen[1], seen[0]);
  assert.equal(seen[2], seen[0]);
  assert.equal(row.product, 'tidewater');
  assert.deepEqual(errors, []);
  await page.unroute('**/measure/events');
  await page.close();
});

test('a card scrolled out of view is an impression but not viewable', async () => {
  const { page } = await openDemo();
  // Push the player below the fold, as a long article would.
  await page.evaluate(() => {
    const spacer = document.createElement('div');
    spacer.style.height = '3000px';
    document.body.prepend(spacer);
    window.scrollTo(0, 0);
  });
  const show = newShow();
  assert.equal(await putMetadata(studio.base, measuredCue(studio.dataDir, CHANNEL, [['lumen', 20, show]])), 204);
  await page.locator('.iap-card').waitFor({ state: 'attached', timeout: 15000 });
  await waitForRow(show, (r) => r.impressions === 1);
  await page.waitForTimeout(4000);
  const row = await rowFor(show);
  assert.equal(row.impressions, 1);
  assert.equal(row.viewable, 0, JSON.stringify(row));
  await page.close();
});

test('a tab hidden before one second is not viewable', async () => {
  const { page } = await openDemo();
  const show = newShow();
  assert.equal(await putMetadata(studio.base, measuredCue(studio.dataDir, CHANNEL, [['tidewater', 20, show]])), 204);
  await page.locator('.iap-card').waitFor({ timeout: 15000 });
  // The tab is hidden half a second after the card. Headless Chromium
  // keeps every tab "visible", so the page is told, as a browser tells it
  // when another tab comes to the front: visibilityState and the event.
  await page.waitForTimeout(500);
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await waitForRow(show, (r) => r.impressions === 1);
  await page.waitForTimeout(3000);
  const row = await rowFor(show);
  assert.equal(row.viewable, 0, JSON.stringify(row));
  await page.close();
});

test('Open is counted once at the redirect and lands on the product link', async () => {
  // The Open button shows in a narrow player (or on touch screens).
  const { page, browser } = await openDemo({ width: 460 });
  const kestrel = product('kestrel');
  // The shop is outside this closed network: answer for it.
  await browser.context.route('https://shop.example/**', (route) => route.fulfill({ status: 200, body: 'the shop' }));
  const show = newShow();
  assert.equal(await putMetadata(studio.base, measuredCue(studio.dataDir, CHANNEL, [['kestrel', 20, show]])), 204);
  // This show's card: a card still up from an earlier cue is not it.
  const open = page.locator('.iap-card', { hasText: kestrel.title }).locator('.iap-open');
  await open.waitFor({ timeout: 15000 });
  const href = await open.getAttribute('href');
  assert.ok(href.startsWith(`${studio.base}/r/o.${CHANNEL}.kestrel.`), href);
  const [popup] = await Promise.all([browser.context.waitForEvent('page'), open.click()]);
  await popup.waitForURL(kestrel.link_url, { timeout: 10000 });
  const row = await waitForRow(show, (r) => r.opens === 1);
  assert.equal(row.scans, 0);
  await popup.close();
  await page.close();
});

test('the QR code scans to a tracking link: a 302 to the product, one scan however often one client fetches it in its 10-minute window', async () => {
  const { page } = await openDemo();
  const lumen = product('lumen');
  const show = newShow();
  assert.equal(await putMetadata(studio.base, measuredCue(studio.dataDir, CHANNEL, [['lumen', 20, show]])), 204);
  // This show's card: a card still up from an earlier cue is not it.
  const qr = page.locator('.iap-card', { hasText: lumen.title }).locator('.iap-qr');
  await qr.waitFor({ timeout: 15000 });
  const box = await settledQrSize(qr);
  assert.ok(box.width >= 120, `QR is ${box.width} CSS px`);
  const link = await decodeQr(qr, scratch, 'tracking');
  assert.ok(link.startsWith(`${studio.base}/r/q.${CHANNEL}.lumen.`), link);
  // A phone fetching it twice within one second (a double tap, a retry).
  // Once only, at the start of a second: a retried pair would itself be
  // more scans. Should the pair still straddle a second, each second counts.
  while (Date.now() % 1000 > 100) await new Promise((r) => setTimeout(r, 10));
  const before = Math.floor(Date.now() / 1000);
  const statuses = await Promise.all([1, 2].map(() => fetch(link, { redirect: 'manual', headers: { 'user-agent': PHONE } })));
  const seconds = Math.floor(Date.now() / 1000) - before + 1;
  for (const res of statuses) {
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), lumen.link_url);
  }
  const row = await waitForRow(show, (r) => r.scans >= 1);
  assert.equal(row.scans, Math.min(seconds, 2), JSON.stringify(row));
  // A forged or unknown link is a 404 and counts nothing.
  const forged = link.slice(0, -8) + 'AAAAAAAA';
  assert.equal((await fetch(forged, { redirect: 'manual', headers: { 'user-agent': PHONE } })).status, 404);
  assert.equal((await fetch(`${studio.base}/r/q.nothing`, { redirect: 'manual' })).status, 404);
  assert.equal((await rowFor(show)).scans, row.scans);
  await page.close();
});

test('two players on one page count separately', async () => {
  const { page } = await openDemo({ players: 2 });
  const show = newShow();
  assert.equal(await putMetadata(studio.base, measuredCue(studio.dataDir, CHANNEL, [['tidewater', 20, show]])), 204);
  await page.waitForFunction(() => document.querySelectorAll('.iap-card').length === 2, null, { timeout: 15000 });
  const row = await waitForRow(show, (r) => r.impressions === 2);
  assert.equal(row.impressions, 2);
  await page.close();
});

test('bad beacons get a 400 with the reason and change no count; a bad event costs only itself', async () => {
  const post = (body, headers = {}) => fetch(`${studio.base}/measure/events`, {
    method: 'POST', headers: { 'content-type': 'text/plain', 'user-agent': DESKTOP, ...headers }, body,
  });
  const show = newShow();
  const cue = JSON.parse(measuredCue(studio.dataDir, CHANNEL, [['kestrel', 20, show]]));
  const event = ({ product = 'kestrel', tag = cue.show[0].t, ...over } = {}) => ({
    id: `e${Math.random().toString(36).slice(2, 10)}`, type: 'impression',
    show: `${CHANNEL}.${product}.${show.toString(36)}.${tag}`, ...over,
  });
  const batch = (events) => JSON.stringify({ v: 1, viewer: 'tester1', events });
  const cases = [
    ['1 MB body', 'x'.repeat(1 << 20), 'over'],
    ['malformed', '{"v":1,', 'not JSON'],
    ['unknown product', batch([event({ product: 'nosuch' })]), 'not in the catalog'],
    ['forged tag', batch([event({ tag: 'AAAAAAAA' })]), 'not the tag'],
  ];
  for (const [name, body, reason] of cases) {
    const res = await post(body);
    assert.equal(res.status, 400, name);
    assert.ok((await res.text()).includes(reason), name);
  }
  assert.equal(await rowFor(show), undefined, 'no count changed');
  // A mixed batch: the good event counts, the bad one is named (issue 29).
  const mixed = await post(batch([event(), event({ type: 'click' })]));
  assert.equal(mixed.status, 200, 'a bad event costs only itself');
  const answer = await mixed.json();
  assert.equal(answer.counted, 1);
  assert.equal(answer.refused, 1);
  assert.equal(answer.events[1].status, 'refused');
  assert.ok(answer.events[1].error.includes('events[1].type'), answer.events[1].error);
  // The same event twice counts once; a robot's is kept out of the counts.
  const once = event();
  for (let i = 0; i < 2; i += 1) assert.equal((await post(batch([once]))).status, 200);
  assert.equal((await post(batch([event()]), { 'user-agent': 'Googlebot/2.1' })).status, 200);
  assert.equal((await rowFor(show)).impressions, 2);
});

test('adctl report: table, CSV and JSON agree with the store', async () => {
  const adctl = process.env.ADCTL_BIN ?? join(repo, 'target', 'debug', 'adctl');
  const run = (format) => execFileSync(adctl, ['report', '--studio', studio.base, '--token', studio.reportToken, '--format', format], { encoding: 'utf8' });
  const rows = await report(studio);
  assert.ok(rows.length >= 6, `${rows.length} shows`);
  const json = JSON.parse(run('json'));
  assert.deepEqual(json, rows);
  const csv = run('csv').trim().split('\n');
  assert.equal(csv[0], 'channel,product,show,audience,impressions,viewable,view_rate,opens,scans,click_through_rate,invalid,invalid_share');
  assert.equal(csv.length, rows.length + 1);
  for (const [i, r] of rows.entries()) {
    const cells = csv[i + 1].split(',');
    assert.deepEqual(cells.slice(0, 6), [r.channel, r.product, String(r.show), r.audience, String(r.impressions), String(r.viewable)]);
    assert.deepEqual(cells.slice(7, 9), [String(r.opens), String(r.scans)]);
    assert.equal(Number(cells[9]), r.click_through_rate);
    assert.deepEqual([Number(cells[10]), Number(cells[11])], [r.invalid, r.invalid_share]);
  }
  // Live viewers only here: every row is live.
  assert.ok(rows.every((r) => r.audience === 'live'), JSON.stringify(rows.map((r) => r.audience)));
  const table = run('table');
  for (const r of rows) assert.ok(table.includes(String(r.show)), `table lacks show ${r.show}`);
  // A wrong token is refused with the fix.
  assert.throws(() => execFileSync(adctl, ['report', '--studio', studio.base, '--token', 'nope'], { encoding: 'utf8', stdio: 'pipe' }), /refused the token/);
});

test('the dashboard shows the live counters, charts and shows, and needs the token', async () => {
  const b = await launchChromium();
  browsers.push(b);
  const page = await b.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Console errors (a CSP violation among them), and failed requests by URL
  // (the console does not name them); Chromium's own favicon request aside.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${studio.base}/dashboard/#token=${studio.reportToken}`);
  const rows = await report(studio);
  const impressions = rows.reduce((n, r) => n + r.impressions, 0);
  await page.locator('[data-total="impressions"] b').waitFor();
  await page.waitForFunction((n) => document.querySelector('[data-total="impressions"] b')?.textContent === String(n), impressions);
  assert.equal(await page.locator('#shows tbody tr').count(), rows.length);
  assert.ok(await page.locator('#chart-impressions svg rect').count() >= 1);
  // Counters move while the page is open.
  const show = newShow();
  const cue = JSON.parse(measuredCue(studio.dataDir, CHANNEL, [['lumen', 20, show]]));
  const res = await fetch(`${studio.base}/measure/events`, {
    method: 'POST', headers: { 'content-type': 'text/plain', 'user-agent': DESKTOP },
    body: JSON.stringify({ v: 1, viewer: 'dash1', events: [{ id: 'd1', type: 'impression', show: `${CHANNEL}.lumen.${show.toString(36)}.${cue.show[0].t}` }] }),
  });
  assert.equal(res.status, 200);
  await page.waitForFunction((n) => document.querySelector('[data-total="impressions"] b')?.textContent === String(n), impressions + 1, { timeout: 5000 });
  // CSV download: the same report.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#csv').click()]);
  const csv = readFileSync(await download.path(), 'utf8');
  assert.equal(csv, await report(studio, 'csv'));
  assert.deepEqual(errors, []);
  // Without the token: asked for it, nothing shown.
  const anon = await b.context.newPage();
  await anon.goto(`${studio.base}/dashboard/`);
  await anon.locator('#login').waitFor();
  assert.equal(await anon.locator('#main').isHidden(), true);
  assert.equal((await fetch(`${studio.base}/measure/report`)).status, 401);
  await b.close();
  browsers.splice(browsers.indexOf(b), 1);
});
