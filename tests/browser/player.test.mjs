// The viewer player (player/dist, built by player/build.sh) in real headless
// Chromium against the studio's live stream, cues sent with PutMetadata.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStudio, launchChromium, putMetadata, waitLive, waitForCueListed, waitForTextGone, repo, decodeQr as decodeQrScreenshot, settledQrSize } from './lib.mjs';

const dist = join(repo, 'player', 'dist');
const catalog = JSON.parse(readFileSync(join(repo, 'studio', 'demo', 'catalog.json'), 'utf8'));
const product = (id) => catalog.products.find((p) => p.id === id);
const cue = (...items) => JSON.stringify({ v: 1, show: items.map(([id, left]) => ({ id, left })) });

let studio, scratch;

before(async () => {
  assert.ok(existsSync(join(dist, 'player.js')), 'player/dist is built (player/build.sh)');
  studio = await startStudio(['--site', dist]);
  scratch = mkdtempSync(join(tmpdir(), 'player-test-'));
  await waitLive(studio.playback);
});

after(async () => {
  // Browsers of tests that failed before closing their page.
  for (const b of browsers) await b.close().catch(() => {});
  await studio?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

// One browser per test: a second page in the same profile does not start
// the IVS player's playback (its worker state is per profile).
const browsers = [];
async function newPage() {
  const b = await launchChromium();
  browsers.push(b);
  const page = await b.context.newPage();
  const close = page.close.bind(page);
  page.close = async () => {
    await close();
    await b.close();
    browsers.splice(browsers.indexOf(b), 1);
  };
  return page;
}

async function openDemo(width = 1100, height = 800) {
  const page = await newPage();
  await page.setViewportSize({ width, height });
  const warnings = [];
  page.on('console', (m) => { if (m.type() === 'warning' && m.text().includes('ivs-ad-player')) warnings.push(m.text()); });
  page.on('pageerror', (e) => warnings.push(`pageerror ${e.message}`));
  const log = [];
  page.on('console', (m) => log.push(m.text()));
  await page.goto(`${studio.base}/`);
  await page.waitForSelector('.iap-root video');
  // Playing: the video's clock moves.
  try {
    await page.waitForFunction(() => document.querySelector('.iap-root video')?.currentTime > 0.5, null, { timeout: 45000 });
  } catch (e) {
    const status = await page.locator('.iap-root').textContent();
    throw new Error(`the player did not play: ${status}; console: ${log.join(' | ')}`);
  }
  return { page, warnings };
}

const decodeQr = (locator, name) => decodeQrScreenshot(locator, scratch, name);

/** WCAG contrast ratio of an element's text against the first opaque background behind it. */
function contrast(locator) {
  return locator.evaluate((el) => {
    const rgba = (s) => {
      const [r, g, b, a = 1] = s.match(/[\d.]+/g).map(Number);
      return { rgb: [r, g, b], a };
    };
    const luminance = (rgb) => {
      const [r, g, b] = rgb.map((c) => {
        const v = c / 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    let back = el;
    while (back && rgba(getComputedStyle(back).backgroundColor).a < 1) back = back.parentElement;
    if (!back) throw new Error('no opaque background behind the element');
    const fg = luminance(rgba(getComputedStyle(el).color).rgb);
    const bg = luminance(rgba(getComputedStyle(back).backgroundColor).rgb);
    return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  });
}

async function assertAaContrast(card, selectors) {
  for (const selector of selectors) {
    const ratio = await contrast(card.locator(selector));
    assert.ok(ratio >= 4.5, `${selector}: contrast ${ratio.toFixed(2)}:1, AA needs 4.5:1`);
  }
}

test('a cue shows its card with title, price, image and a QR code that scans to the link', async () => {
  const { page, warnings } = await openDemo();
  const kestrel = product('kestrel');
  assert.equal(await putMetadata(studio.base, cue(['kestrel', 20])), 204);
  const card = page.locator('.iap-card');
  await card.waitFor({ timeout: 15000 });
  assert.equal(await card.locator('.iap-title').textContent(), kestrel.title);
  assert.equal(await card.locator('.iap-price').textContent(), kestrel.price);
  assert.equal(await card.locator('.iap-image').getAttribute('alt'), kestrel.title);
  await assertAaContrast(card, ['.iap-title', '.iap-price', '.iap-description', '.iap-left', '.iap-dismiss']);
  const qr = card.locator('.iap-qr');
  const box = await settledQrSize(qr);
  assert.ok(box.width >= 120 && box.height >= 120, `QR is ${box.width}x${box.height} CSS px`);
  assert.equal(await decodeQr(qr, 'kestrel'), kestrel.link_url);
  const open = card.locator('.iap-open');
  assert.equal(await open.getAttribute('rel'), 'noopener');
  assert.equal(await open.getAttribute('target'), '_blank');
  assert.equal(await page.locator('[aria-live="polite"]').textContent(), `Now showing: ${kestrel.title}, ${kestrel.price}`);
  // The card covers at most ~40% of the video.
  const video = await page.locator('.iap-root').boundingBox();
  const cardBox = await card.boundingBox();
  assert.ok(cardBox.width * cardBox.height <= 0.42 * video.width * video.height, 'card area');

  // A malformed cue is ignored with a warning; the page keeps working.
  assert.equal(await putMetadata(studio.base, '{"v":1,"show":[{"id":"BAD ID"'), 204);
  assert.equal(await putMetadata(studio.base, cue(['lumen', 20])), 204);
  await page.locator('.iap-card .iap-title', { hasText: product('lumen').title }).waitFor({ timeout: 15000 });
  assert.equal(await page.locator('.iap-card').count(), 1, 'the latest cue is the whole set');
  assert.ok(warnings.some((w) => w.includes('ignored a cue')), `warnings: ${warnings}`);
  assert.ok(!warnings.some((w) => w.startsWith('pageerror')), `page errors: ${warnings}`);

  // Esc closes the card; a re-published cue does not bring it back.
  await page.locator('.iap-root').focus();
  await page.keyboard.press('Escape');
  await page.locator('.iap-card').waitFor({ state: 'detached', timeout: 2000 });
  await page.close();
});

test('a page opened mid-display shows the card on the next re-published cue', async () => {
  const first = cue(['kestrel', 60]);
  assert.equal(await putMetadata(studio.base, first), 204);
  await waitForCueListed(studio.playback, first);
  // The viewer arrives once that cue has left the live window, so only a
  // re-published cue (what the workflow sends) can show it the card.
  await waitForTextGone(studio.playback, '"kestrel"');
  const { page } = await openDemo();
  const card = page.locator('.iap-card', { hasText: product('kestrel').title });
  await page.waitForTimeout(2000);
  assert.equal(await card.count(), 0, 'no card before the re-published cue');
  assert.equal(await putMetadata(studio.base, cue(['kestrel', 25])), 204);
  await card.waitFor({ timeout: 15000 });
  // It counts down from the re-published cue's time left, not the first one's.
  const left = Number((await card.locator('.iap-left').textContent()).match(/(\d+) s left/)[1]);
  assert.ok(left >= 20 && left <= 25, `${left} s left`);
  await page.close();
});

test('a card leaves when its time runs out', async () => {
  const { page } = await openDemo();
  assert.equal(await putMetadata(studio.base, cue(['tidewater', 3])), 204);
  // Older cues still in the stream may play first; this one is the latest.
  const card = page.locator('.iap-card', { hasText: product('tidewater').title });
  await card.waitFor({ timeout: 15000 });
  await card.waitFor({ state: 'detached', timeout: 5000 });
  assert.equal(await page.locator('.iap-card').count(), 0);
  await page.close();
});

test('at 360 px wide the cards fit the player, each with its whole Open link in view', async () => {
  const { page } = await openDemo(360, 740);
  // Reduced motion: no slide-in, so the card's box is final at once (and
  // prefers-reduced-motion is honoured).
  await page.emulateMedia({ reducedMotion: 'reduce' });
  assert.equal(await putMetadata(studio.base, cue(['kestrel', 20], ['lumen', 20])), 204);
  const kestrel = page.locator('.iap-card', { hasText: product('kestrel').title });
  const lumen = page.locator('.iap-card', { hasText: product('lumen').title });
  await lumen.waitFor({ timeout: 15000 });
  assert.equal(await kestrel.evaluate((el) => getComputedStyle(el).animationName), 'none');
  await assertAaContrast(kestrel, ['.iap-open', '.iap-title', '.iap-price']);
  const root = await page.locator('.iap-root').boundingBox();
  const strip = page.locator('.iap-cards');
  const inside = (box, outer, what) => {
    assert.ok(box.x >= outer.x - 0.5 && box.x + box.width <= outer.x + outer.width + 0.5, `${what} fits horizontally`);
    assert.ok(box.y >= outer.y - 0.5 && box.y + box.height <= outer.y + outer.height + 0.5, `${what} fits vertically`);
  };
  const stripBox = await strip.boundingBox();
  inside(stripBox, root, 'the card strip');
  assert.ok(stripBox.height <= 0.4 * root.height + 0.5, `the strip is ${stripBox.height} of ${root.height} px high`);
  // The first card, its Open link and dismiss button wholly in view (the
  // strip clips what overflows it); the second card is a swipe away.
  for (const part of [kestrel, kestrel.locator('.iap-open'), kestrel.locator('.iap-dismiss')]) {
    assert.ok(await part.isVisible());
    inside(await part.boundingBox(), stripBox, 'the first card');
  }
  assert.ok(!(await lumen.locator('.iap-qr').isVisible()), 'no QR code on a narrow player');
  await lumen.scrollIntoViewIfNeeded();
  inside(await lumen.locator('.iap-open').boundingBox(), await strip.boundingBox(), 'the second card');
  await page.close();
});

test('two players on one page are independent, and catalog text is never HTML', async () => {
  const page = await newPage();
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.goto(`${studio.base}/`);
  const hostile = {
    products: [{
      id: 'mug', labels: ['mug'], title: '<script>window.pwned=1</script>Mug', price: '$5 <b>off</b>',
      description: '<img src=x onerror="window.pwned=2">', image_url: '/demo/lumen.png',
      link_url: 'https://shop.example/mug', min_confidence: 50, display_seconds: 10, cooldown_seconds: 0,
    }],
  };
  const counts = await page.evaluate(async ({ playback, hostile }) => {
    const { mountPlayer } = await import('/player.js');
    const a = document.createElement('div');
    const b = document.createElement('div');
    document.body.append(a, b);
    const pa = await mountPlayer(a, { playbackUrl: playback, catalog: hostile });
    const pb = await mountPlayer(b, { playbackUrl: playback, catalog: JSON.stringify(hostile) });
    pa.cue(JSON.stringify({ v: 1, show: [{ id: 'mug', left: 10 }] }));
    await new Promise((r) => requestAnimationFrame(r));
    const card = a.querySelector('.iap-card');
    return {
      counts: [pa.cardCount(), pb.cardCount(), a.querySelectorAll('.iap-card').length, b.querySelectorAll('.iap-card').length],
      title: card?.querySelector('.iap-title')?.textContent,
      description: card?.querySelector('.iap-description')?.textContent,
      markup: card?.querySelectorAll('script, b, .iap-description img').length,
    };
  }, { playback: studio.playback, hostile });
  assert.deepEqual(counts.counts, [1, 0, 1, 0]);
  assert.equal(counts.title, hostile.products[0].title);
  assert.equal(counts.description, hostile.products[0].description);
  assert.equal(counts.markup, 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  await page.close();
});

test('the controls work with real clicks, and an offline stream shows a message and retries', async () => {
  const { page, warnings } = await openDemo();
  const root = page.locator('.iap-root').first();
  const video = root.locator('video');
  const unmute = root.getByRole('button', { name: 'Unmute' });

  // Muted autoplay; Unmute unmutes the video and then hides.
  assert.equal(await video.evaluate((v) => v.muted), true);
  await unmute.click();
  await page.waitForFunction(() => document.querySelector('.iap-root video').muted === false, null, { timeout: 5000 });
  await unmute.waitFor({ state: 'hidden', timeout: 2000 });

  // Full screen takes the player's own root, so the cards stay visible.
  await root.getByRole('button', { name: 'Full screen' }).click();
  await page.waitForFunction(() => document.fullscreenElement?.classList.contains('iap-root'), null, { timeout: 5000 });
  await page.evaluate(() => document.exitFullscreen());

  // The card's dismiss button, clicked.
  assert.equal(await putMetadata(studio.base, cue(['tidewater', 30])), 204);
  const card = root.locator('.iap-card');
  await card.waitFor({ timeout: 15000 });
  await card.getByRole('button', { name: `Dismiss ${product('tidewater').title}` }).click();
  await card.waitFor({ state: 'detached', timeout: 2000 });

  // A channel that is not live: the IVS player's 404 becomes a plain message
  // with a retry countdown, and the player keeps retrying. Its handle is
  // dropped and garbage collected: the player lives as long as its element.
  await page.evaluate(async (base) => {
    const { mountPlayer } = await import('/player.js');
    const box = document.createElement('div');
    box.id = 'offline';
    document.body.append(box);
    await mountPlayer(box, { playbackUrl: `${base}/api/video/v1/us-east-1.123456789012.channel.NotLive.m3u8` });
  }, studio.base);
  await page.evaluate(async () => {
    for (let i = 0; i < 3; i++) {
      window.gc();
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  const status = page.locator('#offline .iap-status');
  await status.waitFor({ state: 'visible', timeout: 20000 });
  const first = await status.textContent();
  assert.match(first, /^The stream is offline\. Retrying in \d+ s\.$/);
  // The second attempt backs off further.
  await page.waitForFunction((text) => {
    const now = document.querySelector('#offline .iap-status')?.textContent;
    return now && now !== text && /Retrying in \d+ s\./.test(now);
  }, first, { timeout: 20000 });
  assert.ok(!warnings.some((w) => w.startsWith('pageerror')), `page errors: ${warnings}`);
  await page.close();
});

test('a catalog that cannot be had leaves the stream playing and says why; a flaky one is retried', async () => {
  const page = await newPage();
  await page.setViewportSize({ width: 1100, height: 900 });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // The catalog host fails twice (503), then answers: fetched again, bounded.
  let flakyCalls = 0;
  await page.route('**/flaky/catalog.json', (route) => (++flakyCalls <= 2
    ? route.fulfill({ status: 503, body: 'busy' })
    : route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(catalog) })));
  await page.goto(`${studio.base}/`);
  const bad = structuredClone(catalog);
  bad.products[1].link_url = 'http://shop.example/plain-http';
  const result = await page.evaluate(async ({ playback, bad, base }) => {
    const { mountPlayer } = await import('/player.js');
    const mountWith = async (options) => {
      const box = document.createElement('div');
      document.body.append(box);
      const events = [];
      box.addEventListener('ivs-ad-player-error', (e) => events.push(e.detail));
      const handle = await mountPlayer(box, { playbackUrl: playback, ...options });
      return { box, handle, events };
    };
    const missing = await mountWith({ catalogUrl: `${base}/no/such/catalog.json` });
    const invalid = await mountWith({ catalog: bad });
    const flaky = await mountWith({ catalogUrl: `${base}/flaky/catalog.json` });
    flaky.handle.cue(JSON.stringify({ v: 1, show: [{ id: 'kestrel', left: 10 }] }));
    invalid.handle.cue(JSON.stringify({ v: 1, show: [{ id: 'kestrel', left: 10 }] }));
    await new Promise((r) => requestAnimationFrame(r));
    window.missingBox = missing.box;
    return {
      missing: missing.events, invalid: invalid.events, flaky: flaky.events,
      cards: [missing.handle.cardCount(), invalid.handle.cardCount(), flaky.handle.cardCount()],
    };
  }, { playback: studio.playback, bad, base: studio.base });
  assert.equal(result.missing.length, 1);
  assert.match(result.missing[0], /^ivs-ad-player: catalog http:\/\/127\.0\.0\.1:\d+\/no\/such\/catalog\.json answered HTTP 404; check the catalog attribute$/);
  assert.equal(result.invalid.length, 1);
  assert.match(result.invalid[0], /catalog refused/);
  assert.match(result.invalid[0], /product "lumen" \(#2\), field "link_url"/);
  assert.match(result.invalid[0], /https/);
  assert.deepEqual(result.flaky, []);
  assert.equal(flakyCalls, 3, 'two 503s, then the catalog');
  assert.deepEqual(result.cards, [0, 0, 1]);
  assert.ok(errors.some((e) => e.includes('HTTP 404')) && errors.some((e) => e.includes('"link_url"')), `console: ${errors}`);
  // The player whose catalog is missing still plays the stream.
  await page.waitForFunction(() => window.missingBox.querySelector('video')?.currentTime > 0.5, null, { timeout: 45000 });
  await page.close();
});
