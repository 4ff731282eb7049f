// Bundles the IVS web player (CommonJS; needs `events`) as an ES module
// exporting what player.js uses, and copies its two wasm assets unmodified.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
mkdirSync(dist, { recursive: true });
await build({
  stdin: { contents: "export { create, PlayerEventType, PlayerState, ErrorType } from 'amazon-ivs-player';", resolveDir: here },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  define: { global: 'globalThis', 'process.env.NODE_ENV': '"production"' },
  outfile: join(dist, 'ivs-sdk.js'),
  logLevel: 'warning',
});
const assets = join(here, 'node_modules', 'amazon-ivs-player', 'dist', 'assets');
for (const f of ['amazon-ivs-wasmworker.min.js', 'amazon-ivs-wasmworker.min.wasm']) {
  copyFileSync(join(assets, f), join(dist, f));
}
