#!/usr/bin/env bash
# Installs what the project's commands need and is missing; skips what is
# present. Safe to run again.
#
#   scripts/setup.sh run    what scripts/run.sh needs (Rust, ffmpeg, Node/npm,
#                           the detector's text models)
#   scripts/setup.sh test   everything scripts/test.sh needs (the default)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-test}"

say() { printf '==> %s\n' "$*" >&2; }

# Debian packages, by the command each provides. apt-get update runs once,
# and only when something is missing.
apt_need=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_need+=("$2"); }
need_cmd ffmpeg ffmpeg
need_cmd ffprobe ffmpeg
# The player's build (player/build.sh, in both commands) runs esbuild and
# binaryen from npm.
need_cmd node nodejs
need_cmd npm npm
# pip fetches the detector's text models (both profiles).
need_cmd python3 python3
python3 -m pip --version >/dev/null 2>&1 || apt_need+=(python3-pip)
if [ "$profile" = test ]; then
  [ -x /usr/bin/chromium ] || apt_need+=(chromium)
  [ -x /usr/bin/chromedriver ] || apt_need+=(chromium-driver)
  need_cmd zbarimg zbar-tools
fi
if [ ${#apt_need[@]} -gt 0 ]; then
  mapfile -t apt_need < <(printf '%s\n' "${apt_need[@]}" | sort -u)
  say "apt-get install ${apt_need[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi

# The built-in detector's wordmark signal reads text with PaddleOCR's PP-OCRv4
# detection and recognition models, as the PyPI wheel rapidocr-onnxruntime
# (Apache-2.0) ships them (15 MB). Fetched from the registry, never
# committed; the detector runs them in pure Rust (tract-onnx).
text_models=.cache/text-models
ocr_wheel_version=1.4.4
if [ ! -f "$text_models/.from-rapidocr-onnxruntime-$ocr_wheel_version" ]; then
  say "fetching the text models (pip download rapidocr-onnxruntime==$ocr_wheel_version)"
  scratch=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --dest "$scratch" "rapidocr-onnxruntime==$ocr_wheel_version"
  mkdir -p "$text_models"
  python3 - "$scratch" "$text_models" <<'PY'
import glob, sys, zipfile
scratch, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(scratch + "/*.whl")[0])
for name in ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"):
    with open(f"{out}/{name}", "wb") as f:
        f.write(wheel.read(f"rapidocr_onnxruntime/models/{name}"))
PY
  rm -rf "$scratch"
  touch "$text_models/.from-rapidocr-onnxruntime-$ocr_wheel_version"
fi

[ "$profile" = test ] || exit 0

# Real photographs for the detector's evaluation (backgrounds and no-logo
# negatives): the sample images the scikit-image wheel ships, fetched from
# PyPI (the wheel is read, not installed; the images are identical on every
# platform, so one platform's wheel is pinned). Never committed.
photos=.cache/photo-backgrounds
skimage_version=0.26.0
if [ ! -f "$photos/.from-scikit-image-$skimage_version" ]; then
  say "fetching real photographs for the detector's evaluation (pip download scikit-image==$skimage_version)"
  scratch=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
    --dest "$scratch" "scikit-image==$skimage_version"
  mkdir -p "$photos"
  python3 - "$scratch" "$photos" <<'PY'
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
PY
  rm -rf "$scratch"
  touch "$photos/.from-scikit-image-$skimage_version"
fi

# Rust: rustfmt and clippy for the checks.
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    say "rustup component add ${component}"
    rustup component add "${component}"
  fi
done

# The Lambdas run on arm64 (cargo lambda build --arm64 in infra/test.sh).
if ! rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
  say "rustup target add aarch64-unknown-linux-gnu"
  rustup target add aarch64-unknown-linux-gnu
fi

# Python tools from PyPI: moto server (the AWS stand-in for DynamoDB, S3 and
# Step Functions; 5.2.5 fixes a second execution of a state machine failing
# with a 500) and cargo-lambda (prebuilt, with zig, for the arm64 Lambda
# build; `cargo install cargo-lambda` takes over half an hour).
pip_need=()
python3 -c 'import moto, sys; sys.exit(0 if moto.__version__ == "5.2.5" else 1)' 2>/dev/null \
  || pip_need+=('moto[server]==5.2.5')
command -v cargo-lambda >/dev/null 2>&1 || pip_need+=('cargo-lambda')
# The CDK template's linters (infra/test.sh), pinned so a new rule release
# cannot fail CI on an unchanged template.
[ "$(cfn-lint --version 2>/dev/null)" = "cfn-lint 1.51.0" ] || pip_need+=('cfn-lint==1.51.0')
[ "$(checkov --version 2>/dev/null)" = "3.3.30" ] || pip_need+=('checkov==3.3.30')
if [ ${#pip_need[@]} -gt 0 ]; then
  say "pip install ${pip_need[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${pip_need[@]}"
fi

# npm packages for the browser tests: the IVS web player (installed here at
# test time, never committed: AWS Customer Agreement), esbuild + events to
# bundle it, playwright-core to drive Debian's Chromium.
if [ "$profile" = test ]; then
  browser=tests/browser
  if [ ! -f "$browser/node_modules/.package-lock.json" ] \
     || [ "$browser/package-lock.json" -nt "$browser/node_modules/.package-lock.json" ]; then
    say "npm ci in $browser"
    (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  say "bundling the IVS test page"
  node "$browser/build.mjs"
fi
