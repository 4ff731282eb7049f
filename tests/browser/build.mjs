// Bundles the test page with the IVS web player (CommonJS, needs `events`)
// into dist/, next to the player's two wasm assets, served unmodified.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [join(here, 'page', 'ivs-test.js')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  define: { global: 'globalThis', 'process.env.NODE_ENV': '"production"' },
  outfile: join(dist, 'ivs-test.js'),
  logLevel: 'warning',
});
copyFileSync(join(here, 'page', 'index.html'), join(dist, 'index.html'));
const assets = join(here, 'node_modules', 'amazon-ivs-player', 'dist', 'assets');
for (const f of ['amazon-ivs-wasmworker.min.js', 'amazon-ivs-wasmworker.min.wasm']) {
  copyFileSync(join(assets, f), join(dist, f));
}
