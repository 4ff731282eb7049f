#!/usr/bin/env bash
# Runs every test of the project: formatting and lint, unit and property tests
# of the contract and the decision core, and the over-the-wire tests (moto
# server + the project's IVS/Rekognition/Lambda stand-ins). One cargo build
# serves all of them. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "==> cargo test"
cargo test --workspace
