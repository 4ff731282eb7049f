// The operator's console in real headless Chromium, against the studio's
// demo show with its local chain: what the detector saw (boxes and
// verdicts), and the operator's pin, unpin, pause, resume, sold out and
// clear reaching a viewer's player, each in the audit log. Without the token, or from
// another origin, nothing changes.
//
// UPDATE_DOCS=1 also writes the screenshot docs/console.md shows.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStudio, launchChromium, repo, CHANNEL_ARN } from './lib.mjs';

const dist = join(repo, 'player', 'dist');
const catalog = JSON.parse(readFileSync(join(repo, 'studio', 'demo', 'catalog.json'), 'utf8'));
const product = (id) => catalog.products.find((p) => p.id === id);
const INTERVAL = 2;
const REPUBLISH = 5;
// A cue reaches a viewer's player one stream latency after it is put
// (docs/figures.md: PutMetadata → TEXT_METADATA_CUE, p95 5.2 s); the
// operator's action puts it at once, so the card is there within one
// re-send interval of that.
const CARD_WITHIN_MS = (REPUBLISH + 6) * 1000;

let studio, browser, scratch;
after(async () => {
  await browser?.close().catch(() => {});
  await studio?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('the console shows what the detector saw, and the operator steers what viewers see', async () => {
  assert.ok(existsSync(join(dist, 'player.js')), 'player/dist is built (player/build.sh)');
  scratch = mkdtempSync(join(tmpdir(), 'console-'));
  studio = await startStudio(
    ['--site', dist, '--thumbnail-interval', String(INTERVAL), '--republish-seconds', String(REPUBLISH)],
    undefined,
    { localChain: true },
  );
  const consoleLine = studio.printed.find((l) => l.startsWith('console: '));
  assert.ok(consoleLine, `the studio prints the console's address: ${studio.printed.join('\n')}`);
  const consoleUrl = consoleLine.slice('console: '.length);
  assert.equal(consoleUrl, `${studio.base}/console/#token=${studio.reportToken}`);
  browser = await launchChromium();

  // A viewer, on the player page, and the operator, on the console.
  const viewer = await browser.context.newPage();
  await viewer.goto(`${studio.base}/`);
  const viewerCard = (id) => viewer.locator('.iap-card', { hasText: product(id).title });
  const op = await browser.context.newPage();
  await op.setViewportSize({ width: 1280, height: 720 });
  await op.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  const response = await op.goto(consoleUrl);
  assert.equal(response.headers()['content-security-policy'], policy('console'));
  assert.match(response.headers()['content-security-policy'], /frame-ancestors 'none'/);
  await op.locator('#mode.live').waitFor({ timeout: 10000 });

  // See: the detector finds kestrel, draws its box, and says it was shown.
  await op.locator('#strip [data-verdict="shown"]', { hasText: 'kestrel' }).first().waitFor({ timeout: 30000 });
  await op.locator('#latest .box[data-label="kestrel"]').waitFor({ timeout: 10000 });
  assert.match(await op.locator('#latest img').getAttribute('src'), /^blob:/);
  await viewerCard('kestrel').waitFor({ timeout: CARD_WITHIN_MS + 5000 });

  // Pin tidewater (not in the show yet) with its button: its card reaches
  // the viewer.
  const row = (id) => op.locator(`tr[data-product="${id}"]`);
  let clicked = Date.now();
  await row('tidewater').locator('button[data-action="pin"]').click();
  await viewerCard('tidewater').waitFor({ timeout: CARD_WITHIN_MS });
  const pinToCard = Date.now() - clicked;
  console.log(`pin → card on the viewer's player: ${pinToCard} ms`);
  await row('tidewater').locator('td.status', { hasText: 'Showing' }).waitFor({ timeout: 3000 });

  // Unpin it with its keyboard shortcut (Shift + its key).
  const key = catalog.products.findIndex((p) => p.id === 'tidewater') + 1;
  await op.locator('body').focus();
  clicked = Date.now();
  await op.keyboard.press(`Shift+Digit${key}`);
  await viewerCard('tidewater').waitFor({ state: 'detached', timeout: CARD_WITHIN_MS });
  console.log(`unpin → card gone from the viewer's player: ${Date.now() - clicked} ms`);

  // Pause (P): lumen enters the show, the strip says it was seen and held
  // by the pause, and no lumen card reaches the viewer.
  await op.keyboard.press('KeyP');
  await op.locator('#mode.paused').waitFor({ timeout: 3000 });
  await op.locator('#strip [data-verdict="paused"]', { hasText: 'lumen' }).first().waitFor({ timeout: 45000 });
  await viewer.waitForTimeout(CARD_WITHIN_MS);
  assert.equal(await viewerCard('lumen').count(), 0, 'no automatic card while paused');

  // Resume with the button: lumen, still in the show, gets its card.
  await op.locator('#pause').click();
  await op.locator('#mode.live').waitFor({ timeout: 3000 });
  await viewerCard('lumen').waitFor({ timeout: INTERVAL * 1000 + CARD_WITHIN_MS });

  // Sold out: lumen's card says so at once, with no QR code and no link;
  // back in stock, the QR code returns.
  const lumenCard = viewerCard('lumen');
  await lumenCard.locator('.iap-qr svg').waitFor({ timeout: 5000 });
  clicked = Date.now();
  await row('lumen').locator('button[data-action="sold-out"]').click();
  await viewer.locator('.iap-card.iap-sold', { hasText: product('lumen').title }).waitFor({ timeout: CARD_WITHIN_MS });
  console.log(`sold out → the viewer's card says so: ${Date.now() - clicked} ms`);
  assert.match(await lumenCard.locator('.iap-left').textContent(), /Sold out/);
  assert.equal(await lumenCard.locator('.iap-qr svg').count(), 0, 'no QR code on a sold-out card');
  assert.equal(await lumenCard.locator('.iap-qr').isVisible(), false);
  assert.equal(await lumenCard.locator('.iap-open').isVisible(), false);
  assert.equal(await lumenCard.locator('.iap-open').getAttribute('href'), '');
  await row('lumen').locator('td.status', { hasText: 'SOLD OUT' }).waitFor({ timeout: 3000 });
  await row('lumen').locator('button[data-action="sold-out"][aria-pressed="true"]').click();
  await lumenCard.locator('.iap-qr svg').waitFor({ timeout: CARD_WITHIN_MS });

  // Clear all (C): every card leaves.
  await op.keyboard.press('KeyC');
  await viewer.waitForFunction(() => document.querySelectorAll('.iap-card').length === 0, null, { timeout: CARD_WITHIN_MS });

  // Every action is in the audit log on the page, newest first.
  const audited = await op.locator('#audit-rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  assert.deepEqual(audited.slice(0, 7), ['clear', 'in-stock', 'sold-out', 'resume', 'pause', 'unpin', 'pin']);
  assert.match(await op.locator('#audit-rows tr[data-action="pin"]').last().textContent(), /studio token.*pin tidewater.*cue /);

  // The catalog, changed live. A product's problems are named beside
  // their fields, and nothing is saved.
  const catalogVersion = async () => (await (await fetch(`${studio.base}/console/api/catalog`, { headers: { authorization: `Bearer ${studio.reportToken}` } })).json()).version;
  const firstVersion = await catalogVersion();
  assert.equal(firstVersion, 1, 'a fresh data folder starts at the demo catalog, version 1');
  await op.locator('#add-product').click();
  const editor = op.locator('#editor');
  await editor.locator('[name="id"]').fill('arc-lamp');
  await editor.locator('[name="title"]').fill('Arc Lamp, refurbished');
  await editor.locator('[name="link_url"]').fill('http://shop.example/arc');
  await editor.locator('[name="image_url"]').fill('lumen.png');
  await editor.locator('button[type="submit"]').click();
  await editor.locator('label', { has: op.locator('[name="link_url"]') }).locator('.field-problem', { hasText: 'https' }).waitFor({ timeout: 5000 });
  await editor.locator('label', { has: op.locator('[name="price"]') }).locator('.field-problem').waitFor({ timeout: 5000 });
  assert.equal(await catalogVersion(), firstVersion, 'a catalog with problems is not saved');

  // A reference that cannot work gets the detector's reason and is not kept.
  for (const [what, source] of [['flat', 'color=gray:s=300x200'], ['10x10', 'color=black:s=10x10']]) {
    const file = join(scratch, `${what}.png`);
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', source, '-frames:v', '1', file]);
    await editor.locator('#reference-file').setInputFiles(file);
    const refused = editor.locator('[data-reference="refused"]');
    await refused.waitFor({ timeout: 15000 });
    console.log(`${what} reference: ${await refused.textContent()}`);
    assert.match(await refused.textContent(), new RegExp(`${what}.png cannot be a reference.*(small|texture|keypoint)`, 'i'));
    assert.equal(await editor.locator('#reference-list code').count(), 0, `the ${what} image is not added`);
  }

  // Lumen leaves the catalog, and a new product arrives whose reference
  // (lumen's logo, uploaded) appears in the show: it is tried on the last
  // thumbnails, saved, and its card reaches the viewer with no restart.
  await editor.locator('#reference-file').setInputFiles(join(repo, 'studio', 'demo', 'lumen.png'));
  await editor.locator('[data-reference="tried"]').waitFor({ timeout: 30000 });
  console.log(`lumen's logo as a reference: ${await editor.locator('[data-reference="tried"]').textContent()}`);
  assert.match(await editor.locator('#reference-list code').textContent(), /^references\/[0-9a-f]{16}\.png$/);
  await editor.locator('[name="link_url"]').fill('https://shop.example/arc');
  await editor.locator('[name="price"]').fill('$59.00');
  await editor.locator('button[type="submit"]').click();
  await editor.waitFor({ state: 'hidden', timeout: 30000 });
  await op.locator('tr[data-catalog-product="lumen"] button', { hasText: 'Remove' }).click();
  await op.locator('tr[data-catalog-product="lumen"]').waitFor({ state: 'detached', timeout: 30000 });
  assert.equal(await catalogVersion(), firstVersion + 2);
  await row('arc-lamp').waitFor({ timeout: 5000 });
  const arcCard = viewer.locator('.iap-card', { hasText: 'Arc Lamp, refurbished' });
  clicked = Date.now();
  // The show loops every 90 s; the viewer's player re-reads the catalog
  // every 30 s.
  await arcCard.waitFor({ timeout: 130000 });
  console.log(`new product saved → its card on the viewer's player: ${Date.now() - clicked} ms`);
  assert.equal(await viewerCard('lumen').count(), 0, 'a removed product shows no card');
  await op.locator('#strip [data-verdict="shown"]', { hasText: 'arc-lamp' }).first().waitFor({ timeout: 10000 });

  // Restoring the first version brings lumen back and takes arc-lamp away.
  await op.locator('tr[data-version="1"] button', { hasText: 'Restore' }).click();
  await op.locator('tr[data-catalog-product="lumen"]').waitFor({ timeout: 30000 });
  assert.equal(await op.locator('tr[data-catalog-product="arc-lamp"]').count(), 0);
  assert.equal(await catalogVersion(), firstVersion + 3);
  await op.locator('#version-rows tr', { hasText: 'restored version 1' }).waitFor({ timeout: 5000 });
  await op.locator('#audit-rows tr[data-action="restore"]').waitFor({ timeout: 5000 });
  // Players re-read the catalog in effect by its ETag: unchanged, a 304.
  const served = await fetch(`${studio.base}/demo/catalog.json`);
  assert.equal(served.headers.get('etag'), `"v${firstVersion + 3}"`);
  assert.ok(JSON.parse(await served.text()).products.some((p) => p.id === 'lumen'));
  assert.equal((await fetch(`${studio.base}/demo/catalog.json`, { headers: { 'if-none-match': served.headers.get('etag') } })).status, 304);
  const catalogAudit = await op.locator('#audit-rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  assert.deepEqual(catalogAudit.slice(0, 4), ['restore', 'catalog', 'catalog', 'catalog'], 'saves, the refused save and the restore are audited');

  // adctl through the studio, on a laptop an hour fast (libfaketime): the
  // pin's window is reckoned on the studio's clock, not the laptop's.
  const adctl = process.env.ADCTL_BIN ?? join(repo, 'target', 'debug', 'adctl');
  const skewed = (cmd, ...args) => execFileSync('faketime', ['-f', '+1h', cmd, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DONT_FAKE_MONOTONIC: '1' },
  });
  const laptopAhead = Number(skewed('date', '+%s')) - Date.now() / 1000;
  assert.ok(laptopAhead > 3500, `the fake clock is in force (${laptopAhead} s ahead)`);
  const viaStudio = ['--operator-url', studio.base, '--operator-token', studio.reportToken];
  const pinned = JSON.parse(skewed(adctl, ...viaStudio, 'show', '--channel', CHANNEL_ARN, '--product', 'kestrel', '--seconds', '60'));
  assert.ok(Math.abs(pinned.at - Date.now() / 1000) < 5, `the pin is at the studio's time, not the laptop's: ${JSON.stringify(pinned)}`);
  const adctlState = JSON.parse(skewed(adctl, ...viaStudio, 'state', '--channel', CHANNEL_ARN));
  assert.equal(adctlState.products.kestrel.visible_until, pinned.at + 60);
  await viewerCard('kestrel').waitFor({ timeout: CARD_WITHIN_MS });
  skewed(adctl, ...viaStudio, 'clear', '--channel', CHANNEL_ARN);
  await viewer.waitForFunction(() => document.querySelectorAll('.iap-card').length === 0, null, { timeout: CARD_WITHIN_MS });
  assert.throws(
    () => execFileSync(adctl, ['--operator-url', studio.base, '--operator-token', 'nope', 'clear', '--channel', CHANNEL_ARN], { stdio: 'pipe' }),
    /refused the token/,
  );

  // Without the token, or from another origin, nothing changes.
  const before = await state(studio.reportToken);
  const attempt = (headers) => fetch(`${studio.base}/operator/pause`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ channel: CHANNEL_ARN }),
  });
  assert.equal((await attempt({})).status, 401);
  assert.equal((await attempt({ authorization: 'Bearer 0000' })).status, 401);
  assert.equal((await attempt({ authorization: `Bearer ${studio.reportToken}`, origin: 'http://127.0.0.1:1' })).status, 403);
  assert.equal((await fetch(`${studio.base}/console/api/view`)).status, 401);
  const catalogSave = (headers) => fetch(`${studio.base}/console/api/catalog/restore`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ version: 2 }),
  });
  const versionBefore = await catalogVersion();
  assert.equal((await catalogSave({})).status, 401);
  assert.equal((await catalogSave({ authorization: `Bearer ${studio.reportToken}`, origin: 'http://127.0.0.1:1' })).status, 403);
  assert.equal((await fetch(`${studio.base}/console/api/catalog`)).status, 401);
  assert.equal(await catalogVersion(), versionBefore, 'no catalog change without the token or from another origin');
  const afterAttempts = await state(studio.reportToken);
  assert.equal(afterAttempts.version, before.version, 'the refused requests wrote nothing');
  assert.equal(afterAttempts.paused, false);
  // A page on another origin cannot drive the console's routes either: the
  // browser's preflight is refused, so the request is never sent.
  const other = await browser.context.newPage();
  await other.goto('about:blank');
  const crossOrigin = await other.evaluate(async ([url, token, channel]) => {
    try {
      const r = await fetch(`${url}/operator/pause`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel }) });
      return r.status;
    } catch (e) {
      return 'blocked';
    }
  }, [studio.base, studio.reportToken, CHANNEL_ARN]);
  assert.equal(crossOrigin, 'blocked');
  assert.equal((await state(studio.reportToken)).paused, false);

  assert.deepEqual(await op.evaluate(() => window.cspViolations), [], 'the console needs nothing its policy refuses');
  // At 1280x720 and on a tablet, nothing runs off the side and every
  // product's buttons can be reached.
  for (const [width, height] of [[1280, 720], [768, 1024]]) {
    await op.setViewportSize({ width, height });
    const fits = await op.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      buttons: Math.max(...[...document.querySelectorAll('#product-rows button')].map((b) => b.getBoundingClientRect().right)),
    }));
    assert.ok(fits.page <= width && fits.buttons <= width, `${width}x${height}: ${JSON.stringify(fits)}`);
  }
  await op.setViewportSize({ width: 1280, height: 720 });
  await op.locator('#strip img').first().waitFor();
  // For the docs, a moment with a product in the frame.
  if (process.env.UPDATE_DOCS) await op.locator('#latest .box').first().waitFor({ timeout: 60000 });
  const shot = process.env.UPDATE_DOCS ? join(repo, 'docs', 'console.png') : join(scratch, 'console.png');
  await op.screenshot({ path: shot, fullPage: false });
  console.log(`screenshot: ${shot}`);
});

async function state(token) {
  const r = await fetch(`${studio.base}/operator/state`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, origin: studio.base },
    body: JSON.stringify({ channel: CHANNEL_ARN }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

/** <folder>/content-security-policy.txt as a header value. */
function policy(folder) {
  return readFileSync(join(repo, folder, 'content-security-policy.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .join('; ');
}
