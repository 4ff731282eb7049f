// Shared by the browser test and the latency benchmark: start the studio
// binary, serve the test page from another origin, drive headless Chromium.
import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');

export const CHANNEL_ARN = 'arn:aws:ivs:us-east-1:123456789012:channel/LocalStudio1';

/** The studio binary: $STUDIO_BIN, else the debug build. */
export function studioBin() {
  const bin = process.env.STUDIO_BIN ?? join(repo, 'target', 'debug', 'studio');
  if (!existsSync(bin)) throw new Error(`no studio binary at ${bin}: run cargo build -p studio (or set STUDIO_BIN)`);
  return bin;
}

/**
 * Starts the studio on a free port; resolves once it prints its playback URL.
 * The local chain (detector → cues) is off unless `localChain`: the other
 * tests send their own cues and must not see the chain's.
 */
export function startStudio(args = [], bin = studioBin(), { localChain = false, dataDir: keep } = {}) {
  const thumbs = mkdtempSync(join(tmpdir(), 'studio-browser-'));
  // Its own measurement store, key and report token, gone with the test;
  // or `dataDir`, which the caller keeps (a second studio on the same data).
  const dataDir = keep ?? join(thumbs, 'measure');
  const chain = localChain ? [] : ['--no-local-chain'];
  const proc = spawn(bin, ['--port', '0', '--thumbnails-dir', thumbs, '--data-dir', dataDir, ...chain, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const printed = [];
  const stderr = [];
  createInterface({ input: proc.stderr }).on('line', (l) => stderr.push(l));
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGINT');
      await new Promise((r) => proc.once('exit', r));
    }
    rmSync(thumbs, { recursive: true, force: true });
  };
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`studio printed no playback URL: ${stderr.join('\n')}`)), 30000);
    proc.once('exit', (code) => reject(new Error(`studio exited ${code}: ${stderr.join('\n')}`)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      printed.push(line);
      if (line.endsWith('.m3u8')) {
        clearTimeout(timer);
        const playback = line.trim();
        const reportToken = printed.map((l) => l.match(/#token=([0-9a-f]+)/)?.[1]).find(Boolean);
        resolvePromise({ proc, playback, base: new URL(playback).origin, stderr, stop, printed, dataDir, reportToken });
      }
    });
  });
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
};

/** Serves a folder on 127.0.0.1 (another port: another origin than the studio). */
export function serveDir(dir) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = join(dir, path === '/' ? 'index.html' : path.slice(1));
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((c) => server.close(c)),
  })));
}

/** Headless Debian Chromium with a fresh profile and the flags a closed network needs. */
export async function launchChromium({ userAgent } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    ...(userAgent ? { userAgent } : {}),
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      // window.gc(), for the test that a player outlives a handle its page dropped.
      '--js-flags=--expose-gc',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** IVS PutMetadata over plain HTTP, as the SDK sends it. Returns the status. */
export async function putMetadata(base, metadata, channelArn = CHANNEL_ARN) {
  const res = await fetch(`${base}/PutMetadata`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channelArn, metadata }),
  });
  return res.status;
}

/**
 * Polls the playlist until a newly listed segment holds `text`; resolves to
 * the time (Date.now()) it was first seen listed. `text` must fit in the first
 * TS packet of its ID3 PES (under ~140 bytes) to be found verbatim.
 */
export async function waitForCueListed(playback, text, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  const seen = new Set();
  const needle = Buffer.from(text);
  while (Date.now() < deadline) {
    const res = await fetch(playback);
    if (res.ok) {
      const lines = (await res.text()).split('\n').filter((l) => l.endsWith('.ts'));
      for (const uri of lines) {
        if (seen.has(uri)) continue;
        seen.add(uri);
        const listedAt = Date.now();
        const seg = Buffer.from(await (await fetch(new URL(uri, playback))).arrayBuffer());
        if (seg.includes(needle)) return listedAt;
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no segment carried ${text} within ${timeoutMs} ms`);
}

/**
 * Resolves once no segment the playlist lists holds `text` (the live window
 * has moved past it), so a viewer joining now cannot receive it.
 */
export async function waitForTextGone(playback, text, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  const holds = new Map();
  const needle = Buffer.from(text);
  while (Date.now() < deadline) {
    const res = await fetch(playback);
    if (res.ok) {
      const uris = (await res.text()).split('\n').filter((l) => l.endsWith('.ts'));
      for (const uri of uris) {
        if (!holds.has(uri)) {
          const seg = Buffer.from(await (await fetch(new URL(uri, playback))).arrayBuffer());
          holds.set(uri, seg.includes(needle));
        }
      }
      if (uris.length > 0 && !uris.some((u) => holds.get(u))) return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`segments still carried ${text} after ${timeoutMs} ms`);
}

/** Resolves once the playlist lists a segment (a player loading earlier gets IVS's offline 404). */
export async function waitLive(playback, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetch(playback).catch(() => null);
    if (res?.ok && (await res.text()).includes('.ts')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${playback} did not go live within ${timeoutMs} ms`);
}

/** Opens the test page and starts the IVS player on `playback`; resolves when Playing. */
export async function openPlayer(context, pageUrl, playback, timeoutMs = 45000) {
  await waitLive(playback);
  const page = await context.newPage();
  const console = [];
  page.on('console', (m) => console.push(m.text()));
  await page.goto(pageUrl);
  await page.waitForFunction(() => typeof window.startPlayer === 'function');
  const supported = await page.evaluate((url) => window.startPlayer(url), playback);
  if (!supported) throw new Error('the IVS player says this browser is not supported');
  try {
    await page.waitForFunction(
      () => window.ivsEvents.some((e) => e.type === 'state' && e.state === 'Playing'),
      null, { timeout: timeoutMs });
  } catch (e) {
    const events = await page.evaluate(() => window.ivsEvents);
    throw new Error(`player never reached Playing: ${JSON.stringify(events)} console: ${console.join(' | ')}`);
  }
  return page;
}

/** Resolves to the TEXT_METADATA_CUE event whose text is `text`. */
export async function waitForCueEvent(page, text, timeoutMs = 10000) {
  await page.waitForFunction(
    (t) => window.ivsEvents.some((e) => e.type === 'cue' && e.text === t),
    text, { timeout: timeoutMs, polling: 20 });
  return page.evaluate((t) => window.ivsEvents.find((e) => e.type === 'cue' && e.text === t), text);
}

/** Decodes the QR code in a screenshot of `locator` with zbarimg (Debian zbar-tools). */
/**
 * The QR code's size in CSS px once its card has settled: the card's entrance
 * animation finished, and sizes rounded to Chromium's layout unit (1/64 px),
 * so a 120 px code under a transform is not reported as 119.99994.
 */
export async function settledQrSize(qr) {
  await qr.evaluate((el) => Promise.all(el.closest('.iap-card').getAnimations({ subtree: true }).map((a) => a.finished)));
  const box = await qr.boundingBox();
  const unit = (x) => Math.round(x * 64) / 64;
  return { width: unit(box.width), height: unit(box.height) };
}

export async function decodeQr(locator, dir, name) {
  const file = join(dir, `${name}.png`);
  writeFileSync(file, await locator.screenshot());
  return execFileSync('zbarimg', ['--raw', '-q', file], { encoding: 'utf8' }).trim();
}

/**
 * A cue as the backend sends it with measurement on: the channel, and per
 * entry its show and the show's tag. The tag is computed here from the
 * studio's key with the rule `backend::measure::ShowSigner` documents
 * (HMAC-SHA256 over channel, product and show; first 6 bytes, base64url),
 * an independent check of that rule. `items`: [id, left, show].
 */
export function measuredCue(dataDir, channel, items, seq = Date.now()) {
  const key = Buffer.from(readFileSync(join(dataDir, 'measure.key'), 'utf8').trim(), 'hex');
  // The player's tag (events, Open) and the QR code's: the key's MAC over
  // channel, product, show and, for a scan, its use (backend TagUse).
  const tag = (product, show, use = '') => {
    const showBytes = Buffer.alloc(8);
    showBytes.writeBigUInt64BE(BigInt(show));
    const mac = createHmac('sha256', key)
      .update(Buffer.concat([Buffer.from(`${channel}\n${product}\n`), showBytes, Buffer.from(use)]))
      .digest();
    return mac.subarray(0, 6).toString('base64url');
  };
  return JSON.stringify({
    v: 1, seq, ch: channel,
    show: items.map(([id, left, show]) => ({ id, left, s: show, t: tag(id, show), q: tag(id, show, '\nscan') })),
  });
}

/** The studio's report (JSON rows per show), read with its printed token. */
export async function report(studio, format = 'json') {
  const res = await fetch(`${studio.base}/measure/report?format=${format}`, {
    headers: { authorization: `Bearer ${studio.reportToken}` },
  });
  if (!res.ok) throw new Error(`report answered ${res.status}: ${await res.text()}`);
  return format === 'json' ? res.json() : res.text();
}

/** The p-th percentile (nearest rank) of a list of numbers, for the benches. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
