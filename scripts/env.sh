# Sourced by the project's scripts (and by hand: `source scripts/env.sh`):
# puts the tools scripts/setup.sh installs on PATH: the Python tools'
# virtual environment (moto, cfn-lint, checkov, cargo-lambda; .cache/venv, or
# $IVS_ADS_VENV) and cargo's bin folder (wasm-bindgen).
# shellcheck shell=bash
_ivs_ads_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${IVS_ADS_VENV:-$_ivs_ads_root/.cache/venv}/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
unset _ivs_ads_root
