# Sourced by the project's shell scripts (after `set -Eeuo pipefail`): names
# the step a script is in, and makes every early exit say what failed (the
# script, its step, the command and the line), so that no script ever exits
# non-zero in silence.
#
#   step "cargo test"     # prints "==> cargo test [14:02:17]" and names the step
# shellcheck shell=bash

_steps_script="${0##*/}"
_steps_current="starting"

step() { # step DESCRIPTION: announce the step (with the time of day, so a
  # log shows where the time goes) and name it for error reports
  _steps_current="$*"
  printf '==> %s [%(%H:%M:%S)T]\n' "$*" -1 >&2
}

_steps_report() { # called by the ERR trap: STATUS LINE COMMAND
  printf '%s: FAILED (exit %s) in step "%s", at line %s: %s\n' \
    "$_steps_script" "$1" "$_steps_current" "$2" "$3" >&2
}
# -E passes the trap to functions and subshells; a failure inside a
# subshell is reported there and again where the subshell was called.
trap '_steps_report "$?" "$LINENO" "$BASH_COMMAND"' ERR
