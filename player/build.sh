#!/usr/bin/env bash
# Builds the player into player/dist/, ready to host statically: index.html
# (demo), player.js + player.css (the embed), our wasm and its JS glue, and the
# bundled IVS web player with its two assets. Installs what is missing (the
# wasm32 target, wasm-bindgen-cli at the crate's exact version, npm packages
# with binaryen's wasm-opt) and skips what is present.
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '==> %s\n' "$*" >&2; }

rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || {
  say "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }

# The CLI must match the wasm-bindgen crate exactly (pinned with = in Cargo.toml).
want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "cargo install wasm-bindgen-cli --version $want (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$want"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci (amazon-ivs-player, esbuild, events, binaryen)"
  npm ci --no-audit --no-fund --loglevel=error
fi

say "cargo build (wasm32, size-optimised profile)"
cargo build -p ivs-ad-player --target wasm32-unknown-unknown --profile wasm-release
wasm=../target/wasm32-unknown-unknown/wasm-release/ivs_ad_player.wasm

rm -rf dist && mkdir -p dist
say "wasm-bindgen --target web"
wasm-bindgen --target web --no-typescript --out-dir dist "$wasm"
say "wasm-opt -Oz (binaryen from npm; Debian's 108 breaks wasm in Chromium)"
node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  dist/ivs_ad_player_bg.wasm -o dist/ivs_ad_player_bg.wasm
cp web/index.html web/player.js web/player.css dist/
node build.mjs

# Size: our wasm + JS + CSS, gzipped (the target's measure) and brotli (what
# CloudFront serves to browsers that accept it); the IVS SDK's files excluded.
node -e '
  const zlib = require("zlib"), fs = require("fs");
  const files = ["ivs_ad_player_bg.wasm", "ivs_ad_player.js", "player.js", "player.css"];
  let gz = 0, br = 0;
  for (const f of files) {
    const b = fs.readFileSync("dist/" + f);
    const g = zlib.gzipSync(b, { level: 9 }).length;
    const r = zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
    gz += g; br += r;
    console.log(`  ${f.padEnd(24)} ${String(g).padStart(7)} bytes gzipped, ${String(r).padStart(7)} brotli`);
  }
  const kb = (n) => Math.ceil(n / 1024);
  console.log(`  ${"ours, total".padEnd(24)} ${String(gz).padStart(7)} bytes gzipped (${kb(gz)} KB; target 80 KB), ${kb(br)} KB brotli`);
'
