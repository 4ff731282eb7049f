// The JS half of player/build.sh. Usage: node build.mjs <wasm-bindgen output dir>
//
// 1. Bundles the IVS web player (CommonJS; needs `events`) as an ES module
//    exporting what player.js uses, and copies its two wasm assets unmodified.
// 2. Bundles web/player.js with wasm-bindgen's glue into one minified
//    dist/player.js (the IVS SDK stays a separate file), and minifies the CSS.
// 3. Writes <dir>/reachable.json, the graph binaryen's wasm-metadce takes:
//    the wasm exports the bundle still names. The rest are code no JS can
//    reach (Leptos links wasm-streams, whose exported stream classes we never
//    use), which build.sh then removes from the wasm.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
if (!process.argv[2]) {
  console.error('usage: node build.mjs <wasm-bindgen output dir> (player/build.sh passes it)');
  process.exit(2);
}
const bindgen = resolve(process.argv[2]);
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

const glue = join(bindgen, 'ivs_ad_player.js');
const bundled = await build({
  entryPoints: [join(here, 'web', 'player.js')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  // player.js imports the glue by the name wasm-bindgen gives it; the SDK
  // is loaded from beside player.js at run time.
  plugins: [{
    name: 'glue-and-sdk',
    setup(b) {
      b.onResolve({ filter: /^\.\/ivs_ad_player\.js$/ }, () => ({ path: glue }));
      b.onResolve({ filter: /^\.\/ivs-sdk\.js$/ }, () => ({ path: './ivs-sdk.js', external: true }));
      // The glue registers every exported class at load (a FinalizationRegistry
      // and a Symbol.dispose alias), which keeps classes player.js never uses
      // alive. Marked pure and dropped, esbuild can shake them out; a glue
      // without these patterns bundles unchanged, only larger.
      b.onLoad({ filter: /ivs_ad_player\.js$/ }, () => ({
        loader: 'js',
        contents: readFileSync(glue, 'utf8')
          .replace(/^if \(Symbol\.dispose\) \w+\.prototype\[Symbol\.dispose\] = \w+\.prototype\.free;$/gm, '')
          .replace(/: new FinalizationRegistry\(/g, ': /* @__PURE__ */ new FinalizationRegistry('),
      }));
    },
  }],
  outfile: join(dist, 'player.js'),
  logLevel: 'warning',
});
if (bundled.errors.length) process.exit(1);
await build({
  entryPoints: [join(here, 'web', 'player.css')],
  minify: true,
  outfile: join(dist, 'player.css'),
  logLevel: 'warning',
});

// Export names are kept when the bundle mentions them (esbuild keeps property
// names, and the glue reaches exports only as `wasm.<name>`).
const js = readFileSync(join(dist, 'player.js'), 'utf8');
const module = new WebAssembly.Module(readFileSync(join(bindgen, 'ivs_ad_player_bg.wasm')));
const exports = WebAssembly.Module.exports(module).map((e) => e.name);
const named = (name) => new RegExp(`[^\\w$]${name.replace(/\$/g, '\\$')}[^\\w$]`).test(js);
const kept = exports.filter(named);
if (!kept.includes('mount') || !kept.includes('memory')) {
  throw new Error(`build.mjs: the bundle does not name the wasm's mount/memory exports; kept ${kept.join(', ')}`);
}
const graph = [
  { name: 'js', root: true, reaches: kept.map((e) => `export:${e}`) },
  ...exports.map((e) => ({ name: `export:${e}`, export: e })),
];
writeFileSync(join(bindgen, 'reachable.json'), JSON.stringify(graph));
const dropped = exports.filter((e) => !kept.includes(e));
console.log(`  wasm exports the JS never names (removed): ${dropped.length ? dropped.join(', ') : 'none'}`);
