// The studio's stream in the real IVS web player, in real headless Chromium:
// it plays, and a cue sent with PutMetadata arrives as TEXT_METADATA_CUE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startStudio, serveDir, launchChromium, putMetadata, waitForCueListed, openPlayer, waitForCueEvent, repo, CHANNEL_ARN,
} from './lib.mjs';

let studio, site, browser;

before(async () => {
  studio = await startStudio();
  site = await serveDir(join(repo, 'tests', 'browser', 'dist'));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await studio?.stop();
});

test('the IVS player plays the studio stream and receives a PutMetadata cue within 10 s', async () => {
  // The page is on another origin than the stream: CORS is exercised.
  assert.notEqual(new URL(site.url).origin, studio.base);
  const page = await openPlayer(browser.context, site.url, studio.playback);

  const cue = JSON.stringify({ v: 1, show: [{ id: 'kestrel', left: 20 }], n: Date.now() % 100000 });
  const putAt = Date.now();
  assert.equal(await putMetadata(studio.base, cue), 204);
  const listed = waitForCueListed(studio.playback, cue);
  const event = await waitForCueEvent(page, cue, 10000);
  const listedAt = await listed;
  assert.equal(event.text, cue);
  assert.ok(event.at - putAt <= 10000, `cue took ${event.at - putAt} ms`);
  console.log(`put -> listed ${listedAt - putAt} ms; listed -> TEXT_METADATA_CUE ${event.at - listedAt} ms`);

  // The next cue (here: nothing to show) arrives as well.
  const clear = JSON.stringify({ v: 1, show: [], n: Date.now() % 100000 });
  assert.equal(await putMetadata(studio.base, clear), 204);
  assert.equal((await waitForCueEvent(page, clear, 10000)).text, clear);
  const errors = await page.evaluate(() => window.ivsEvents.filter((e) => e.type === 'error'));
  assert.deepEqual(errors, []);
  // Only our cues surface: the PRIV marker opening every segment does not.
  const texts = await page.evaluate(() => window.ivsEvents.filter((e) => e.type === 'cue').map((e) => e.text));
  assert.deepEqual([...new Set(texts)].sort(), [cue, clear].sort());
});

test('a viewer joining after the first segments left the playlist plays on, segment after segment', async () => {
  // Wait until segment 0 has slid out of the window.
  while (!(await (await fetch(studio.playback)).text()).includes('#EXT-X-MEDIA-SEQUENCE:') ||
         (await (await fetch(studio.playback)).text()).includes('#EXT-X-MEDIA-SEQUENCE:0\n')) {
    await new Promise((r) => setTimeout(r, 500));
  }
  const page = await openPlayer(browser.context, site.url, studio.playback);
  const t0 = await page.evaluate(() => document.querySelector('video').currentTime);
  await page.waitForTimeout(5000);
  const t1 = await page.evaluate(() => document.querySelector('video').currentTime);
  // Over 5 s the picture advances across at least two segment boundaries.
  assert.ok(t1 - t0 > 3.5, `video advanced ${t1 - t0} s in 5 s`);
});

test('a page on another origin cannot drive the studio; the studio\'s own page can', async () => {
  const hostile = await browser.context.newPage();
  await hostile.goto(site.url);
  assert.notEqual(new URL(hostile.url()).origin, studio.base);
  const marker = `hostile-${Date.now()}`;
  const refusedBefore = studio.stderr.filter((l) => l.includes('refused: a call from another origin')).length;
  const seen = await hostile.evaluate(async ({ base, arn, marker }) => {
    const out = {};
    const attempt = async (name, url, init) => {
      try {
        out[name] = (await fetch(url, init)).status;
      } catch {
        out[name] = 'blocked';
      }
    };
    const cue = JSON.stringify({ channelArn: arn, metadata: marker });
    // Simple requests: no preflight, so the studio itself must refuse them.
    await attempt('text/plain', `${base}/PutMetadata`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: cue });
    await attempt('no-cors', `${base}/PutMetadata`, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: cue });
    // Preflighted: the browser asks first and is told no.
    await attempt('json', `${base}/PutMetadata`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: cue });
    await attempt('detect', `${base}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'RekognitionService.DetectCustomLabels' },
      body: JSON.stringify({ ProjectVersionArn: 'x', Image: { S3Object: { Bucket: 'b', Name: 'k' } } }),
    });
    return out;
  }, { base: studio.base, arn: CHANNEL_ARN, marker });
  // The page learns nothing (a CORS failure, or an opaque no-cors answer).
  assert.deepEqual(seen, { 'text/plain': 'blocked', 'no-cors': 0, json: 'blocked', detect: 'blocked' });
  // The two simple requests reached the studio and were refused there.
  const refused = studio.stderr.filter((l) => l.includes('refused: a call from another origin')).length;
  assert.equal(refused - refusedBefore, 2, studio.stderr.slice(-5).join('\n'));
  await hostile.close();

  // The studio's own origin may call it from a page.
  const own = await browser.context.newPage();
  await own.goto(`${studio.base}/demo/catalog.json`);
  const legit = `own-page-${Date.now()}`;
  const status = await own.evaluate(async ({ arn, legit }) => (await fetch('/PutMetadata', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channelArn: arn, metadata: legit }),
  })).status, { arn: CHANNEL_ARN, legit });
  assert.equal(status, 204);
  await waitForCueListed(studio.playback, legit);
  // Listed after the hostile attempts, and the hostile cue never was.
  const playlist = await (await fetch(studio.playback)).text();
  for (const uri of playlist.split('\n').filter((l) => l.endsWith('.ts'))) {
    const seg = Buffer.from(await (await fetch(new URL(uri, studio.playback))).arrayBuffer());
    assert.ok(!seg.includes(Buffer.from(marker)), `a segment carries the hostile cue ${marker}`);
  }
  await own.close();
});
