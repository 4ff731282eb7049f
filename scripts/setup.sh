#!/usr/bin/env bash
# Installs what the project's commands need and is missing; skips what is
# present. Safe to run again. Used by scripts/test.sh (and the local run
# command when it lands).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

# Rust: rustfmt and clippy for the checks.
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    say "rustup component add ${component}"
    rustup component add "${component}"
  fi
done

# Python tools from PyPI: moto server (the AWS stand-in for DynamoDB, S3 and
# Step Functions; 5.2.5 fixes a second execution of a state machine failing
# with a 500) and cargo-lambda (prebuilt, with zig, for the arm64 Lambda
# build; `cargo install cargo-lambda` takes over half an hour).
pip_need=()
python3 -c 'import moto, sys; sys.exit(0 if moto.__version__ == "5.2.5" else 1)' 2>/dev/null \
  || pip_need+=('moto[server]==5.2.5')
command -v cargo-lambda >/dev/null 2>&1 || pip_need+=('cargo-lambda')
if [ ${#pip_need[@]} -gt 0 ]; then
  say "pip install ${pip_need[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${pip_need[@]}"
fi
