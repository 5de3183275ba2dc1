#!/usr/bin/env bash
# Entrypoint of the production Ollama image (see Dockerfile / README.md).
#
#  1. starts `ollama serve` (the model is already baked into the image),
#  2. waits until the API answers (`ollama list`; the image has no curl),
#  3. warms the model with a real one-token generation (ollama-healthcheck.sh --warm-up): it
#     loads the model (OLLAMA_KEEP_ALIVE=-1 keeps it there) and proves the CPU/GPU backend
#     generates, which loading alone does not,
#  4. marks the container ready only then (the health check needs the mark) and
#  5. forwards SIGTERM/SIGINT to ollama and exits with its status.
set -uo pipefail

model="${OLLAMA_MODEL:-gemma3:1b}"
ready_file="${OLLAMA_READY_FILE:-/tmp/ollama-ready}"
wait_seconds="${OLLAMA_START_TIMEOUT:-120}"
healthcheck="${OLLAMA_HEALTHCHECK:-$(dirname "$0")/ollama-healthcheck.sh}"
rm -f "$ready_file" "$ready_file.answered"

ollama serve "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

log() { echo "entrypoint: $*" >&2; }

wait_for_api() {
    local deadline=$((SECONDS + wait_seconds))
    until ollama list >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

if wait_for_api; then
    started=$SECONDS
    if [[ "${OLLAMA_WARMUP:-1}" != "1" ]]; then
        touch "$ready_file"
    elif "$healthcheck" --warm-up; then
        log "$model loaded and generated a token in $((SECONDS - started))s"
        touch "$ready_file"
    else
        # Never marked ready: the health check fails and the orchestrator replaces the host.
        log "error: $model could not generate a token; this host stays unhealthy"
    fi
else
    log "ollama serve did not come up within ${wait_seconds}s"
    kill -TERM "$pid" 2>/dev/null
fi

# `wait` returns early when a trapped signal arrives; then wait for ollama itself to finish.
wait "$pid"
status=$?
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid"
    status=$?
done
rm -f "$ready_file"
exit "$status"
