#!/usr/bin/env bash
# Run `podocr batch` for one day from cron: one run at a time (flock), retries that match the exit codes.
#
#   podocr-daily.sh [YYYY-MM-DD]        default: yesterday (UTC)
#
# Exit codes are podocr's (podocr/job/exitcodes.py): 0 ok, 2 invalid input (not retried: fix the manifest),
# 3 partitions failed (retried with --resume), 4 infrastructure (retried after a pause); plus 75 when another
# run still holds the lock (this run did nothing; cron mails the message).
#
# Environment (all optional): PODOCR_INPUT, PODOCR_OUTPUT (else job.input/job.output from the config),
# PODOCR_VENV (virtualenv with podocr; else `podocr` on PATH), PODOCR_ENV_FILE (default /etc/podocr/env,
# sourced if present: PODOCR__SECTION__KEY settings, never credentials — use an instance role or
# ~/.aws), PODOCR_LOCK (default /tmp/podocr-daily.lock), PODOCR_ATTEMPTS (default 3),
# PODOCR_RETRY_DELAY_S (default 600).
set -euo pipefail

env_file=${PODOCR_ENV_FILE:-/etc/podocr/env}
if [ -r "$env_file" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
fi

date_arg=${1:-$(date -u -d yesterday +%F)}
if ! [[ $date_arg =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]; then
  echo "usage: $0 [YYYY-MM-DD]  (got '$date_arg')" >&2
  exit 2
fi

podocr=podocr
if [ -n "${PODOCR_VENV:-}" ]; then podocr="$PODOCR_VENV/bin/podocr"; fi
lock=${PODOCR_LOCK:-/tmp/podocr-daily.lock}
attempts=${PODOCR_ATTEMPTS:-3}
delay=${PODOCR_RETRY_DELAY_S:-600}

# One run at a time on this host: a day still running (backfill, slow storage) must not be joined by the next.
exec 9>"$lock"
if ! flock -n 9; then
  echo "$(date -u +%FT%TZ) podocr-daily: another run holds $lock; not starting $date_arg" >&2
  exit 75
fi

args=(batch --date "$date_arg" --no-progress)
if [ -n "${PODOCR_INPUT:-}" ]; then args+=(--input "$PODOCR_INPUT"); fi
if [ -n "${PODOCR_OUTPUT:-}" ]; then args+=(--output "$PODOCR_OUTPUT"); fi
export PODOCR__JOB__LOG_JSON=${PODOCR__JOB__LOG_JSON:-true}

rc=0
for attempt in $(seq 1 "$attempts"); do
  extra=()
  if [ "$attempt" -gt 1 ]; then extra=(--resume); fi
  echo "$(date -u +%FT%TZ) podocr-daily: $date_arg attempt $attempt/$attempts" >&2
  set +e
  "$podocr" "${args[@]}" "${extra[@]}"
  rc=$?
  set -e
  case $rc in
    0) exit 0 ;;
    2) echo "podocr-daily: invalid input for $date_arg (exit 2); not retrying" >&2; exit 2 ;;
    3 | 4) if [ "$attempt" -lt "$attempts" ]; then sleep "$delay"; fi ;;
    *) echo "podocr-daily: unexpected exit $rc; not retrying" >&2; exit "$rc" ;;
  esac
done
echo "podocr-daily: $date_arg still failing after $attempts attempts (exit $rc)" >&2
exit "$rc"
