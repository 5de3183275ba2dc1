#!/usr/bin/env bash
# Health of the production Ollama: a real one-token generation, the only proof the host can
# summarize. Listing or loading the model is not: the AMX CPU backend of some Ollama versions
# loads fine on Intel Sapphire Rapids and crashes on the first generation. Used by the image's
# HEALTHCHECK, the ECS task's health check and the entrypoint's warm-up. The image has no curl:
# HTTP over bash's /dev/tcp.
#
#   ollama-healthcheck.sh            # healthy: warmed (ready mark) and one token answered, or
#                                    # every slot busy (model loaded) and a token answered
#                                    # within OLLAMA_HEALTH_BUSY_SECONDS
#   ollama-healthcheck.sh --warm-up  # the entrypoint: one token, waiting up to
#                                    # OLLAMA_WARMUP_TIMEOUT for the model to load
set -uo pipefail

model="${OLLAMA_MODEL:-gemma3:1b}"
ready_file="${OLLAMA_READY_FILE:-/tmp/ollama-ready}"
# Written after each answered token: how long a busy host may go without answering one.
answered_file="${ready_file}.answered"
busy_seconds="${OLLAMA_HEALTH_BUSY_SECONDS:-900}"

log() { echo "ollama-healthcheck: $*" >&2; }

api_port() {
    local hostport="${OLLAMA_HOST:-127.0.0.1:11434}"
    hostport="${hostport#*://}"
    hostport="${hostport%%/*}"
    if [[ "$hostport" == *:* ]]; then echo "${hostport##*:}"; else echo 11434; fi
}

# One generated token, or a failure: status 0 and "done", else the answer on stderr.
# Exit status 124: no answer within $1 seconds (every slot busy, or a hung server).
one_token() {
    local body response status
    body="{\"model\":\"${model}\",\"prompt\":\"Reply with OK.\",\"stream\":false,"
    body+="\"options\":{\"num_predict\":1,\"temperature\":0}}"
    # shellcheck disable=SC2016  # expanded by the inner bash, from its arguments
    response="$(timeout "$1" bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" \
            "${#2}" "$2" >&3
        cat <&3' one-token "$(api_port)" "$body")"
    status=$?
    ((status == 0)) || return "$status"
    if [[ "$response" == "HTTP/1."[01]" 200"* && "$response" == *'"done":true'* ]]; then
        touch "$answered_file" 2>/dev/null
        return 0
    fi
    log "no token: ${response##*$'\r\n\r\n'}"
    return 1
}

if [[ "${1:-}" == "--warm-up" ]]; then
    one_token "${OLLAMA_WARMUP_TIMEOUT:-300}"
    exit
fi

[[ -f "$ready_file" ]] || { log "not warmed up yet"; exit 1; }
one_token "${OLLAMA_HEALTH_TIMEOUT:-10}"
status=$?
((status == 124)) || exit "$status"
# No answer in time: healthy while every slot is busy with the model loaded, as long as a
# token was answered recently (a hung server stops answering for good).
last=$(stat -c %Y "$answered_file" 2>/dev/null || echo 0)
if ollama ps 2>/dev/null | grep -q "^${model}[[:space:]]" && ((EPOCHSECONDS - last < busy_seconds)); then
    log "busy: no free slot for the check; last token $((EPOCHSECONDS - last))s ago"
    exit 0
fi
log "no token within ${OLLAMA_HEALTH_TIMEOUT:-10}s and none in the last ${busy_seconds}s"
exit 1
