#!/usr/bin/env bash
# Runs the project's tests, all of them (as CI does) or named stages:
#
#   ./scripts/test.sh                      every stage, in order, after setup
#   ./scripts/test.sh wire browser         those stages only, after setup
#   ./scripts/test.sh --no-setup unit      skip setup.sh (the tools are there)
#   ./scripts/test.sh --list               the stages and what each runs
#
# Stages (docs/testing.md says what each needs and checks):
#   lint     shellcheck on every shell script, cargo fmt, the clippy canary
#   unit     unit, property and doc tests of every crate (cargo test --lib --bins, --doc)
#   detector the detector's evaluation slice and its CLI
#   tools    the docs' commands, the installer's plan on bare machines
#   wire     the handlers and the studio over the wire (moto, stand-ins, ffmpeg),
#            the README's run command, adctl
#   fuzz     every external-input decoder, 30 s each
#   bench    the collector benchmark, a short run
#   player   the player's wasm build, its size budget, clippy for wasm32
#   infra    the CDK app: type check, assertions, cfn-lint, checkov, arm64 bundling
#   wasm     the player's wasm-bindgen tests in headless Chromium
#   browser  the IVS web player and ours in headless Chromium, against the studio
#
# Every cargo command selects the whole workspace (or runs a binary it
# built) and is compiled through clippy (below): `-p PACKAGE` resolves
# dependency features for that package alone, and another compiler wrapper
# changes the fingerprints; either would rebuild much of the tree.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/steps.sh
source scripts/steps.sh

stages=(lint unit detector tools wire fuzz bench player infra wasm browser)
# Each cargo test target belongs to exactly one stage, so running every
# stage runs every test; a target in no stage fails the unit stage.
detector_tests=(detector_eval detect_cli)
tools_tests=(doc_commands installer_plan)
wire_tests=(backend_over_the_wire studio_over_the_wire readme_run_command adctl_cli)
fuzz_tests=(fuzz)
# The player's wasm-bindgen tests compile to nothing natively.
wasm_tests=(web)

usage() {
  echo "usage: scripts/test.sh [--no-setup] [--list] [STAGE ...]; stages: ${stages[*]}" >&2
}
setup=true
chosen=()
for arg in "$@"; do
  case "$arg" in
    --no-setup) setup=false ;;
    --list) sed -n '/^# Stages/,/^#   browser/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "test.sh: unknown option $arg" >&2; usage; exit 2 ;;
    *)
      if [[ " ${stages[*]} " != *" $arg "* ]]; then
        echo "test.sh: no stage named '$arg'" >&2; usage; exit 2
      fi
      chosen+=("$arg") ;;
  esac
done
[ ${#chosen[@]} -gt 0 ] || chosen=("${stages[@]}")

if $setup; then
  ./scripts/setup.sh test
fi
# shellcheck source=scripts/env.sh
source scripts/env.sh

# One debug build serves clippy and the tests: clippy-driver compiles the
# workspace's own crates as `cargo clippy` has it do (the same wrapper and
# arguments), but for real, so the dependencies are built once, not checked
# and then built. What it lints is what `cargo clippy --workspace
# --all-targets -- -D warnings` lints (the workspace has no benches or
# examples); a lint fails the build.
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
clippy_args="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
linted() { # linted CARGO_ARGS...: cargo, compiled (and linted) through clippy
  RUSTC_WORKSPACE_WRAPPER="$clippy_driver" CLIPPY_ARGS="$clippy_args" cargo "$@"
}
cargo_tests() { # cargo_tests NAME...: those test targets of the workspace
  local args=() name
  for name in "$@"; do args+=(--test "$name"); done
  linted test --workspace "${args[@]}"
}

stage_lint() {
  step "shellcheck: every shell script in the repository"
  mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
  shellcheck --external-sources "${scripts[@]}"

  step "cargo fmt --check"
  cargo fmt --all -- --check

  step "clippy as the compiler: a canary lint must fail, and no bench or example may exist (cargo test builds neither)"
  local canary
  canary=$(mktemp -d)
  printf 'fn main() { let v: Vec<u8> = Vec::new(); if v.len() == 0 { println!("empty"); } }\n' > "$canary/canary.rs"
  if CARGO_PRIMARY_PACKAGE=1 CLIPPY_ARGS="$clippy_args" "$clippy_driver" rustc --edition 2021 \
    --emit=metadata --crate-type bin -o "$canary/canary.rmeta" "$canary/canary.rs" 2>/dev/null; then
    echo "test.sh: clippy-driver passed a lint with CLIPPY_ARGS=$clippy_args: this toolchain's clippy takes its arguments otherwise; use cargo clippy --workspace --all-targets -- -D warnings" >&2
    exit 1
  fi
  rm -rf "$canary"
  if cargo metadata --no-deps --format-version 1 | grep -Eq '"kind":\["(bench|example)"\]'; then
    echo "test.sh: the workspace has a bench or an example, which cargo test does not build, so clippy as its compiler would not lint it; add cargo clippy --benches --examples" >&2
    exit 1
  fi
}

stage_unit() {
  step "every cargo test target is in a stage"
  local known=" ${detector_tests[*]} ${tools_tests[*]} ${wire_tests[*]} ${fuzz_tests[*]} ${wasm_tests[*]} " name
  while read -r name; do
    if [[ "$known" != *" $name "* ]]; then
      echo "test.sh: the test target '$name' is in no stage; add it to one of the *_tests lists" >&2
      exit 1
    fi
  done < <(cargo metadata --no-deps --format-version 1 | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const p of JSON.parse(s).packages)
        for (const t of p.targets) if (t.kind.includes("test")) console.log(t.name);
    });')
  step "cargo test --lib --bins, then the doc tests (linted by clippy as they build)"
  linted test --workspace --lib --bins
  linted test --workspace --doc
}

stage_detector() {
  step "the detector's evaluation slice and its CLI"
  cargo_tests "${detector_tests[@]}"
}

stage_tools() {
  step "the docs' commands and the installer's plan"
  # doc_commands checks each command's flags against the built binaries'
  # --help (adctl, studio, detect): build them as the tests do first, or a
  # binary left from an older build would be what it checks.
  built_as_tested
  cargo_tests "${tools_tests[@]}"
}

stage_wire() {
  step "over the wire: the backend's handlers (moto, stand-ins), the studio, the README's run command, adctl"
  cargo_tests "${wire_tests[@]}"
}

stage_fuzz() {
  step "fuzzing every external-input decoder 30 s (tests/fuzz.rs)"
  FUZZ_SECONDS=30 cargo_tests "${fuzz_tests[@]}"
}

# The binaries as `cargo test` builds them: `cargo build` leaves the
# dev-dependencies out, resolves other features and would rebuild the
# detector, tract and everything above them (3 min 46 s on CI's machine).
built_as_tested() {
  linted test --workspace --no-run
}

stage_bench() {
  step "collector benchmark, a short run (debug build: it checks that every event is counted; the figures come from the release build, docs/measurement.md)"
  built_as_tested
  target/debug/bench-collector 20
}

stage_player() {
  step "player build (wasm32, wasm-bindgen, wasm-opt; prints its gzipped size)"
  ./player/build.sh

  step "player size budget: our wasm + JS + CSS at most 84.5 KB gzipped (80 KB, moved by 1 KB for measurement, 0.5 KB for sold out and 3 KB for replay)"
  node player/size.mjs --max-bytes 86528 > /dev/null

  step "cargo clippy (player, wasm32)"
  cargo clippy -p ivs-ad-player --target wasm32-unknown-unknown --all-targets --quiet -- -D warnings
}

stage_infra() {
  step "infra (CDK): type check, assertions, cfn-lint, checkov, asl-validator, arm64 bundling"
  ./infra/test.sh
}

stage_wasm() {
  step "player wasm tests (wasm-bindgen-test in headless Chromium via chromedriver)"
  ./player/test-wasm.sh
}

stage_browser() {
  # The studio serves player/dist; the measurement tests read the store
  # through adctl, as an operator would. Both are built when missing or
  # stale (a no-op after the other stages).
  step "the studio and adctl (debug), the player's dist"
  built_as_tested
  if [[ " ${chosen[*]} " != *" player "* ]]; then
    ./player/build.sh
  fi
  step "browser tests (headless Chromium: IVS web player, our player, measurement)"
  # A hung browser must not hang CI: the whole browser suite gets 15 minutes.
  STUDIO_BIN="$PWD/target/debug/studio" timeout 900 node --test tests/browser/*.test.mjs
}

for stage in "${chosen[@]}"; do
  "stage_$stage"
done
