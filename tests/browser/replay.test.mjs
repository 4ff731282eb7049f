// Replay, end to end in real headless Chromium: the studio records a demo
// show of about 60 s with the whole local chain (detector → decision core →
// cues); a second studio on the same data folder lists the recording; the
// player plays it with its cue timeline. Every marker on the scrub bar
// seeks to its card, whose QR code decodes (zbarimg) to the replay's
// tracking link; a time with no card shows none; a paused replay expires
// nothing; and the events are counted as replay in the store.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startStudio, launchChromium, repo, decodeQr, report, percentile } from './lib.mjs';

const dist = join(repo, 'player', 'dist');
const catalog = JSON.parse(readFileSync(join(repo, 'studio', 'demo', 'catalog.json'), 'utf8'));
const title = (id) => catalog.products.find((p) => p.id === id)?.title;
// Long enough for kestrel (3 s), lumen (28 s) and tidewater (53 s) to show.
const SHOW_SECONDS = 62;
const DESKTOP = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

let recorder, replayer, browser, scratch;
after(async () => {
  await browser?.close().catch(() => {});
  await recorder?.stop();
  await replayer?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The folder of each finished recording under `root` (it has cues.json). */
function recordings(root) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!statSync(path).isDirectory()) continue;
      if (existsSync(join(path, 'events', 'recording-ended.json'))) out.push(path);
      else walk(path);
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

/**
 * Where each card begins, read from cues.json independently of the
 * contract's code: a product in a cue that the cue before did not show in
 * the same show window, or whose time had run out.
 */
function expectedMarkers(timeline) {
  const out = [];
  let before;
  for (const c of timeline.cues) {
    const cue = JSON.parse(c.cue);
    for (const item of cue.show.filter((i) => i.left > 0)) {
      const continues = before?.cue.show.some((p) => p.id === item.id && (p.s === item.s || item.s === undefined) && before.at + p.left > c.at);
      if (!continues) out.push({ at: c.at, id: item.id });
    }
    before = { at: c.at, cue };
  }
  return out;
}

/** The cards a viewer saw at `t`: the newest cue at or before it, counted down. */
function cardsAt(timeline, t) {
  const c = timeline.cues.filter((x) => x.at <= t).pop();
  if (!c) return [];
  return JSON.parse(c.cue).show.filter((i) => i.left - (t - c.at) > 0).map((i) => i.id);
}

test('a recorded show replays with the same cards at the same moments, and its timeline seeks to them', async () => {
  assert.ok(existsSync(join(dist, 'recordings.html')), 'player/dist is built (player/build.sh)');
  scratch = mkdtempSync(join(tmpdir(), 'replay-'));
  const dataDir = join(scratch, 'data');

  // 1. Record: the demo show with the whole chain, no viewer, for ~60 s.
  recorder = await startStudio(['--site', dist, '--thumbnail-interval', '2'], undefined, { localChain: true, dataDir });
  await new Promise((r) => setTimeout(r, SHOW_SECONDS * 1000));
  await recorder.stop();
  recorder = undefined;
  const [folder, ...others] = recordings(join(dataDir, 'recordings'));
  assert.ok(folder && others.length === 0, `one finished recording under ${dataDir}/recordings`);
  const hls = join(folder, 'media', 'hls');
  const playlist = readFileSync(join(hls, 'source', 'playlist.m3u8'), 'utf8');
  assert.match(playlist, /#EXT-X-PLAYLIST-TYPE:VOD/);
  assert.match(playlist, /#EXT-X-ENDLIST\n$/);
  assert.match(playlist, /#EXT-X-PROGRAM-DATE-TIME:/);
  const timeline = JSON.parse(readFileSync(join(hls, 'cues.json'), 'utf8'));
  assert.ok(timeline.duration_secs > SHOW_SECONDS - 15, `recorded ${timeline.duration_secs} s`);
  const markers = expectedMarkers(timeline);
  const products = [...new Set(markers.map((m) => m.id))].sort();
  assert.deepEqual(products, ['kestrel', 'lumen', 'tidewater'].filter((p) => products.includes(p)));
  assert.ok(products.includes('kestrel') && products.includes('lumen'), `cards in the recording: ${products}`);
  for (const c of timeline.cues) assert.ok(timeline.catalogs[c.catalog_version], `the show's catalog ${c.catalog_version} is kept`);

  // 2. Replay: another studio on the same data lists it; the player plays it.
  replayer = await startStudio(['--site', dist], undefined, { dataDir });
  // A desktop browser's user agent: headless Chromium's own is a robot's,
  // whose events are recorded and never counted.
  browser = await launchChromium({ userAgent: DESKTOP });
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 720 });
  const errors = [];
  // Our player's errors and CSP violations (the IVS SDK's own telemetry
  // fails on the closed network, and Chromium asks for a favicon).
  page.on('console', (m) => m.type() === 'error' && /ivs-ad-player|Content Security Policy/.test(m.text()) && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${replayer.base}/recordings.html#token=${replayer.reportToken}`);
  const row = page.locator('#recordings tbody tr');
  await row.first().waitFor({ timeout: 10000 });
  assert.equal(await row.count(), 1);
  const cells = await row.first().locator('td').allTextContents();
  assert.deepEqual(cells[2].split(', ').sort(), products, 'the list names its products');
  assert.match(cells[1], /^1:0\d$|^0:5\d$/, `its length: ${cells[1]}`);
  assert.equal(cells[3], '0 impressions, 0 scans · 0 impressions, 0 scans', 'nobody watched yet');
  // adctl lists the same recording, with the link that plays it.
  const adctl = process.env.ADCTL_BIN ?? join(repo, 'target', 'debug', 'adctl');
  const listed = execFileSync(adctl, ['recordings', '--studio', replayer.base], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(listed.length, 2, listed.join('\n'));
  const [, length, productsListed, replayLink] = listed[1].split('\t');
  assert.equal(length, cells[1]);
  assert.deepEqual(productsListed.split(','), products);
  assert.equal(replayLink, `${replayer.base}/recordings.html?recording=${encodeURIComponent(`/recordings/${relative(join(dataDir, 'recordings'), folder)}/media/hls/master.m3u8`)}`);
  await row.first().getByRole('link', { name: 'Play replay' }).click();
  const player = page.locator('ivs-ad-player .iap-root');
  await page.waitForFunction(() => {
    const v = document.querySelector('ivs-ad-player video');
    return v && v.readyState >= 2 && !v.paused;
  }, null, { timeout: 30000 });

  // The markers match the cues: one per card start, labelled with its product.
  const buttons = player.locator('.iap-marker');
  await buttons.first().waitFor({ timeout: 10000 });
  const shown = await buttons.evaluateAll((els) => els.map((e) => ({ at: Number(e.dataset.at), label: e.getAttribute('aria-label') })));
  assert.deepEqual(shown.map((m) => m.at), markers.map((m) => Math.round(m.at * 1000) / 1000));
  shown.forEach((m, i) => assert.ok(m.label.startsWith(`${title(markers[i].id)} at `), m.label));

  // Choosing a marker seeks there: its card shows, with a QR code that
  // decodes to the replay's tracking link for that product.
  // Three rounds over the markers, for the seek-to-card figure; the first
  // also checks every card and QR code.
  const seekToCard = [];
  for (let round = 0; round < 3; round++) {
    for (const [i, m] of markers.entries()) {
      // From the quiet start, so every seek changes the cards.
      await page.evaluate(() => document.querySelector('ivs-ad-player .iap-bar').dispatchEvent(new MouseEvent('click', { clientX: 0 })));
      await player.locator('.iap-card').first().waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
      const startedAt = Date.now();
      await buttons.nth(i).focus();
      await page.keyboard.press('Enter');
      const card = player.locator('.iap-card', { hasText: title(m.id) });
      await card.waitFor({ timeout: 5000 });
      seekToCard.push(Date.now() - startedAt);
      if (round > 0) continue;
      const position = await page.evaluate(() => document.querySelector('ivs-ad-player video').currentTime);
      assert.ok(Math.abs(position - m.at) < 3, `seeked to ${position}, the marker is at ${m.at}`);
      const expected = cardsAt(timeline, m.at + 0.5).map(title).sort();
      const titles = (await player.locator('.iap-card .iap-title').allTextContents()).sort();
      assert.deepEqual(titles, expected, `the cards at ${m.at} s`);
      const link = await decodeQr(card.locator('.iap-qr'), scratch, `marker-${i}`);
      assert.ok(link.startsWith(`${replayer.base}/r/qr.`) && link.includes(`.${m.id}.`), `QR code: ${link}`);
    }
  }
  console.log(`seek to card (marker chosen -> card on screen), ${seekToCard.length} seeks: p50 ${percentile(seekToCard, 50)} ms, p95 ${percentile(seekToCard, 95)} ms`);

  // Paused, nothing counts down or expires.
  await page.locator('.iap-play').click();
  await page.waitForFunction(() => document.querySelector('ivs-ad-player video').paused);
  const left = await player.locator('.iap-card .iap-left').first().textContent();
  await page.waitForTimeout(2500);
  assert.equal(await player.locator('.iap-card .iap-left').first().textContent(), left, 'paused: the countdown holds');
  await page.locator('.iap-play').click();

  // A time with no card (before the first cue): none shows. The scrub bar
  // takes a click at a position.
  const quiet = 0.5;
  assert.deepEqual(cardsAt(timeline, quiet), []);
  const bar = page.locator('.iap-bar');
  const box = await bar.boundingBox();
  await page.mouse.click(box.x + 2, box.y + box.height / 2);
  await page.waitForFunction(() => document.querySelector('ivs-ad-player video').currentTime < 3, null, { timeout: 5000 });
  await page.waitForTimeout(600);
  assert.equal(await player.locator('.iap-card').count(), 0, 'no card before the first cue');

  // The events were counted as replay, apart from live (nobody watched live).
  let rows = [];
  for (let i = 0; i < 20; i++) {
    rows = await report(replayer);
    if (rows.filter((r) => r.audience === 'replay' && r.impressions > 0).length >= 2) break;
    await page.waitForTimeout(500);
  }
  const replayed = rows.filter((r) => r.audience === 'replay' && r.impressions > 0).map((r) => r.product);
  assert.ok(replayed.includes('kestrel') && replayed.includes('lumen'), `replay impressions by product: ${JSON.stringify(rows)}`);
  const live = rows.filter((r) => r.audience === 'live');
  assert.equal(live.reduce((n, r) => n + r.impressions, 0), 0, `no live impression: ${JSON.stringify(live)}`);
  // The replays page counts them with the recording.
  await page.goto(`${replayer.base}/recordings.html#token=${replayer.reportToken}`);
  const counted = await page.locator('#recordings tbody tr td').nth(3).textContent();
  assert.match(counted, /^0 impressions, 0 scans · [1-9]\d* impressions, 0 scans$/, counted);
  // The dashboard shows them apart.
  const dash = await browser.context.newPage();
  await dash.goto(`${replayer.base}/dashboard/#token=${replayer.reportToken}`);
  await dash.locator('[data-total="replay-impressions"] b').waitFor();
  const totals = await dash.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-total]')].map((e) => [e.dataset.total, e.querySelector('b').textContent])));
  assert.equal(totals.impressions, '0', 'live impressions');
  assert.ok(Number(totals['replay-impressions']) >= 2, JSON.stringify(totals));
  assert.ok((await dash.locator('#shows tbody td', { hasText: /^replay$/ }).count()) >= 2, 'replay rows in the shows table');
  assert.deepEqual(errors, []);
});
