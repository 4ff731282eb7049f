#!/usr/bin/env bash
# Runs the player's wasm-bindgen tests (tests/web.rs) in headless Chromium
# through chromedriver (Debian `chromium`, `chromium-driver`). Chromium's
# flags, including a fresh profile per run, are in webdriver.json.
set -Eeuo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/steps.sh
source ../scripts/steps.sh
# shellcheck source=scripts/env.sh
source ../scripts/env.sh
for tool in wasm-bindgen-test-runner /usr/bin/chromedriver /usr/bin/chromium; do
  command -v "$tool" >/dev/null || { echo "test-wasm.sh: $tool is missing; run scripts/setup.sh test" >&2; exit 1; }
done
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export CHROMEDRIVER=/usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT=60
exec cargo test -p ivs-ad-player --target wasm32-unknown-unknown --test web "$@"
