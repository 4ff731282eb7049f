# Sourced by the project's scripts (and by hand: `source scripts/env.sh`):
# puts the tools scripts/setup.sh installs on PATH: the Python tools'
# virtual environment (moto, cfn-lint, checkov, cargo-lambda) and cargo's
# bin folder (wasm-bindgen).
_ivs_ads_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_ivs_ads_root/.cache/venv/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
unset _ivs_ads_root
