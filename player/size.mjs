// The player's size report: our wasm + JS (wasm-bindgen's glue bundled in) +
// CSS in dist/, gzipped (level 9, the budget's measure) and brotli (what
// CloudFront serves to browsers that accept it). The IVS SDK's files are not
// ours and are left out.
//
//   node size.mjs                       prints the report (player/build.sh)
//   node size.mjs --max-bytes 81920     also fails when over budget (the tests)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = join(dirname(fileURLToPath(import.meta.url)), 'dist');
const at = process.argv.indexOf('--max-bytes');
const budget = at > 0 ? Number(process.argv[at + 1]) : undefined;
if (budget !== undefined && !(budget > 0)) {
  console.error('size.mjs: --max-bytes needs a positive number of bytes, e.g. --max-bytes 81920');
  process.exit(2);
}

// KB here is 1,024 bytes, in the report and in docs/player.md.
const kb = (n) => (n / 1024).toFixed(1);
let gz = 0;
let br = 0;
for (const f of ['ivs_ad_player_bg.wasm', 'player.js', 'player.css']) {
  const bytes = readFileSync(join(dist, f));
  const g = gzipSync(bytes, { level: 9 }).length;
  const r = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  gz += g;
  br += r;
  console.log(`  ${f.padEnd(24)} ${String(g).padStart(7)} bytes gzipped (${kb(g).padStart(4)} KB), ${kb(r)} KB brotli`);
}
console.log(`  ${'ours, total'.padEnd(24)} ${String(gz).padStart(7)} bytes gzipped (${kb(gz)} KB; target 80 KB), ${kb(br)} KB brotli`);
if (budget !== undefined && gz > budget) {
  console.error(`the player is ${gz} bytes gzipped, over its budget of ${budget}; see "Player size" in docs/player.md`);
  process.exit(1);
}
