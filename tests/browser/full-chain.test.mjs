// The whole local chain in real headless Chromium: the studio streams the
// demo show, its thumbnails go through the built-in detector and the
// backend's decision core, cues go into the stream, and our player shows
// the cards by themselves. No PutMetadata from the test.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStudio, launchChromium, repo, decodeQr } from './lib.mjs';

const dist = join(repo, 'player', 'dist');
const catalog = JSON.parse(readFileSync(join(repo, 'studio', 'demo', 'catalog.json'), 'utf8'));
const product = (id) => catalog.products.find((p) => p.id === id);
// The demo show's schedule (studio/src/demo.rs): kestrel enters at 3 s,
// lumen at 28 s, tidewater at 53 s.
const KESTREL_ENTERS = 3.0;
const LUMEN_ENTERS = 28.0;
const INTERVAL = 2;

let studio, browser, scratch;
after(async () => {
  await browser?.close().catch(() => {});
  await studio?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('products in the show get their cards by themselves, and only they', async () => {
  assert.ok(existsSync(join(dist, 'player.js')), 'player/dist is built (player/build.sh)');
  scratch = mkdtempSync(join(tmpdir(), 'full-chain-'));
  // The show's clock starts after this: times measured from here are upper
  // bounds of the show time.
  const started = Date.now();
  studio = await startStudio(['--site', dist, '--thumbnail-interval', String(INTERVAL)], undefined, { localChain: true });
  browser = await launchChromium();
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1100, height: 800 });
  const titles = new Map();
  // Every card title that ever shows, with the show time (upper bound) it
  // first showed at.
  await page.exposeFunction('reportCards', (list) => {
    for (const t of list) if (!titles.has(t)) titles.set(t, (Date.now() - started) / 1000);
  });
  // The page runs under the hosted player's Content-Security-Policy (the
  // one the CDK stack sends too): everything below must work inside it.
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  const response = await page.goto(`${studio.base}/`);
  assert.equal(response.headers()['content-security-policy'], sitePolicy());
  await page.evaluate(() => {
    const report = () => window.reportCards([...document.querySelectorAll('.iap-card .iap-title')].map((e) => e.textContent));
    new MutationObserver(report).observe(document.body, { subtree: true, childList: true, characterData: true });
  });

  const kestrel = product('kestrel');
  const card = page.locator('.iap-card', { hasText: kestrel.title });
  const deadline = started + (KESTREL_ENTERS + INTERVAL + 10) * 1000;
  await card.waitFor({ timeout: Math.max(1000, deadline - Date.now()) }).catch(() => {
    throw new Error(`no kestrel card within thumbnail interval + 10 s of it entering the show; studio: ${studio.stderr.filter((l) => l.includes('decision') || l.includes('shown')).slice(-5).join('\n')}`);
  });
  const appeared = Date.now();
  console.log(`kestrel card visible ${((appeared - started) / 1000 - KESTREL_ENTERS).toFixed(1)} s (wall clock, upper bound) after kestrel entered the show`);
  assert.equal(await card.locator('.iap-price').textContent(), kestrel.price);
  // The demo page measures (collector="/"): the QR code is the studio's
  // tracking link, which redirects to the product's link.
  const scanned = await decodeQr(card.locator('.iap-qr'), scratch, 'kestrel');
  assert.ok(scanned.startsWith(`${studio.base}/r/q.`), scanned);
  const hop = await fetch(scanned, { redirect: 'manual', headers: { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148' } });
  assert.equal(hop.status, 302);
  assert.equal(hop.headers.get('location'), kestrel.link_url);

  // Where the cue landed on the video's own timeline (the studio stamps it
  // at the live frame and logs that frame's show time).
  const shown = studio.stderr.find((l) => l.includes('products shown') && l.includes('kestrel'));
  const at = Number(/cue_at_show_secs=([0-9.]+)/.exec(shown ?? '')?.[1]);
  assert.ok(Number.isFinite(at), `the chain logs the cue's show time: ${shown}`);
  console.log(`on the video timeline the kestrel cue lands ${(at - KESTREL_ENTERS).toFixed(2)} s after kestrel's first frame; thumbnail to cue ${/thumbnail_to_cue_ms=([0-9.]+)/.exec(shown)?.[1]} ms`);

  // The card leaves when its display window (20 s) ends.
  await card.waitFor({ state: 'detached', timeout: (kestrel.display_seconds + 5) * 1000 });
  const shownFor = (Date.now() - appeared) / 1000;
  assert.ok(Math.abs(shownFor - kestrel.display_seconds) <= 2, `kestrel showed for ${shownFor.toFixed(1)} s, not ${kestrel.display_seconds} ± 2`);

  // Nothing else showed, except lumen once it was really in the show.
  for (const [title, when] of titles) {
    if (title === kestrel.title) continue;
    assert.equal(title, product('lumen').title, `${title} showed, but only kestrel and then lumen were in the frame`);
    assert.ok(when > LUMEN_ENTERS, `lumen's card showed at ${when} s, before lumen entered at ${LUMEN_ENTERS} s`);
  }
  assert.deepEqual(await page.evaluate(() => window.cspViolations), [], 'the player needs nothing the policy refuses');
  // And the policy is in force: an injected inline script does not run.
  const injected = await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.injected = true';
    document.body.append(s);
    return window.injected ?? false;
  });
  assert.equal(injected, false);
  assert.deepEqual(await page.evaluate(() => window.cspViolations.map((v) => v.split(' ')[0])), ['script-src-elem']);
  await page.close();
});

/** player/web/content-security-policy.txt as a header value. */
function sitePolicy() {
  return readFileSync(join(repo, 'player', 'web', 'content-security-policy.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .join('; ');
}
