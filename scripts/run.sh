#!/usr/bin/env bash
# The local run command: installs what is missing, then starts the studio, a
# local IVS channel streaming the demo show (HLS with timed metadata, the
# PutMetadata API, thumbnails). Extra arguments go to the studio, e.g.
#   ./scripts/run.sh --input rtmp        # stream from OBS instead
#   ./scripts/run.sh --input show.mp4    # a file, looped as live
# It also builds the viewer player (player/dist), which the studio serves at
# http://127.0.0.1:8080/. Every thumbnail goes through the built-in detector
# and the backend's decision core, so the demo's cards appear by themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh run
source scripts/env.sh
./player/build.sh
exec cargo run --release -p studio -- "$@"
