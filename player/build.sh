#!/usr/bin/env bash
# Builds the player into player/dist/, ready to host statically: index.html
# (demo), player.js (the embed, with wasm-bindgen's glue bundled in) +
# player.css, our wasm, and the bundled IVS web player with its two assets.
# What it builds with (the wasm32 target, wasm-bindgen-cli at the crate's
# exact version, the npm packages with binaryen's wasm-opt) comes from
# scripts/setup.sh, which installs only what is missing.
set -Eeuo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/steps.sh
source ../scripts/steps.sh
say() { step "player: $*"; }
../scripts/setup.sh run
# shellcheck source=scripts/env.sh
source ../scripts/env.sh

say "cargo build (wasm32, size-optimised profile)"
# Panic locations name source files; without the registry's folder they are
# shorter, and the same on every machine (the size budget then does not
# depend on where CARGO_HOME is).
remap=""
for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do remap+=" --remap-path-prefix=$dir="; done
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:-}$remap"
cargo build -p ivs-ad-player --target wasm32-unknown-unknown --profile wasm-release
wasm=../target/wasm32-unknown-unknown/wasm-release/ivs_ad_player.wasm

# wasm-bindgen writes beside the target dir; dist/ gets only what is hosted.
bindgen=../target/player-bindgen
rm -rf dist "$bindgen" && mkdir -p dist "$bindgen"
say "wasm-bindgen --target web"
wasm-bindgen --target web --no-typescript --out-dir "$bindgen" "$wasm"
cp web/index.html web/recordings.html web/recordings.js web/page.css dist/
say "esbuild: the IVS SDK; player.js bundled with the glue, minified; player.css"
node build.mjs "$bindgen"
features="--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue"
say "wasm-metadce (drops exports no JS reaches), then wasm-opt -Oz (binaryen from npm; Debian's 108 breaks wasm in Chromium)"
# shellcheck disable=SC2086
node_modules/.bin/wasm-metadce $features --graph-file "$bindgen/reachable.json" \
  "$bindgen/ivs_ad_player_bg.wasm" -o "$bindgen/reachable.wasm" > "$bindgen/metadce.log"
# Then flatten + rereloop (control flow rebuilt), GUFA and -Oz again, twice:
# 1.4 KB less gzipped than -Oz alone (measured on the replay build). Low
# memory unused: the first 1 KB of memory is the far end of Rust's 1 MB
# stack, which the player never reaches, so constant offsets fold into
# loads and stores.
# shellcheck disable=SC2086
node_modules/.bin/wasm-opt -Oz --converge --strip-producers --strip-target-features $features \
  --low-memory-unused --flatten --rereloop -Oz --gufa -Oz --flatten --rereloop -Oz --converge \
  "$bindgen/reachable.wasm" -o dist/ivs_ad_player_bg.wasm

# Size: our wasm + JS (glue included) + CSS, gzipped; the IVS SDK's files excluded.
node size.mjs
