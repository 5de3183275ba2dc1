#!/usr/bin/env bash
# Entrypoint of the production Ollama image (see Dockerfile / README.md).
#
#  1. starts `ollama serve` (the model is already baked into the image),
#  2. waits until the API answers (`ollama list`; the image has no curl),
#  3. warms the model: an empty-prompt /api/generate makes Ollama load it into memory without
#     generating anything (done_reason "load"); OLLAMA_KEEP_ALIVE=-1 keeps it there,
#  4. marks the container ready (the HEALTHCHECK looks for the mark) and
#  5. forwards SIGTERM/SIGINT to ollama and exits with its status.
set -uo pipefail

model="${OLLAMA_MODEL:-gemma3:1b}"
ready_file="${OLLAMA_READY_FILE:-/tmp/ollama-ready}"
wait_seconds="${OLLAMA_START_TIMEOUT:-120}"
rm -f "$ready_file"

ollama serve "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

log() { echo "entrypoint: $*" >&2; }

api_port() {
    local hostport="${OLLAMA_HOST:-127.0.0.1:11434}"
    hostport="${hostport#*://}"
    hostport="${hostport%%/*}"
    if [[ "$hostport" == *:* ]]; then echo "${hostport##*:}"; else echo 11434; fi
}

wait_for_api() {
    local deadline=$((SECONDS + wait_seconds))
    until ollama list >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

warm_up() {
    # HTTP over bash's /dev/tcp: no curl/wget in the official image.
    local body response
    body="{\"model\":\"${model}\",\"prompt\":\"\",\"stream\":false}"
    exec 3<>"/dev/tcp/127.0.0.1/$(api_port)" || return 1
    printf 'POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "${#body}" "$body" >&3
    response="$(cat <&3)"
    exec 3>&-
    [[ "$response" == *'"done_reason":"load"'* ]] || {
        log "warm-up answer: ${response##*$'\r\n\r\n'}"
        return 1
    }
}

if wait_for_api; then
    started=$SECONDS
    if [[ "${OLLAMA_WARMUP:-1}" == "1" ]]; then
        if warm_up; then
            log "$model loaded in $((SECONDS - started))s"
        else
            log "warning: could not warm $model; it will load on the first request"
        fi
    fi
    touch "$ready_file"
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
