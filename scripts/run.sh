#!/usr/bin/env bash
# The local run command: installs what is missing, then starts the studio, a
# local IVS channel streaming the demo show (HLS with timed metadata, the
# PutMetadata API, thumbnails). Extra arguments go to the studio, e.g.
#   ./scripts/run.sh --input rtmp        # stream from OBS instead
#   ./scripts/run.sh --input show.mp4    # a file, looped as live
# The built-in detector and the pipeline wiring (issue 5) and the player
# (issue 4) join this command when they land.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh run
exec cargo run --release -p studio -- "$@"
