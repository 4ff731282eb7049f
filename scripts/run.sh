#!/usr/bin/env bash
# The local run command: installs what is missing, then starts the studio, a
# local IVS channel streaming the demo show (HLS with timed metadata, the
# PutMetadata API, thumbnails). Extra arguments go to the studio, e.g.
#   ./scripts/run.sh --input rtmp        # stream from OBS instead
#   ./scripts/run.sh --input show.mp4    # a file, looped as live
#   ./scripts/run.sh --port 8081         # another port for the page and APIs
# It also builds the viewer player (player/dist), which the studio serves at
# http://127.0.0.1:8080/. Every thumbnail goes through the built-in detector
# and the backend's decision core, so the demo's cards appear by themselves.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/steps.sh
source scripts/steps.sh
./scripts/setup.sh run
# shellcheck source=scripts/env.sh
source scripts/env.sh
step "run: building the player (player/build.sh)"
./player/build.sh
# The dev profile: Cargo.toml optimises the crates the studio spends its
# time in (frames, codecs, the detector and its text models), and it builds
# in about half the time of a release build (docs/testing.md#a-new-machine).
step "run: building and starting the studio (cargo run -p studio --bin studio)"
exec cargo run -p studio --bin studio -- "$@"
