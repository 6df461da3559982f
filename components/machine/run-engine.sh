#!/usr/bin/env bash
# ExecStart of qwen3-serve-engine.service: run the pinned engine image with the planned argv and
# env. The container is on Docker's bridge network, listening on 0.0.0.0 inside it, with its port
# published on the host's 127.0.0.1 only (the proxy is the only public door). Not --network host:
# a host-network container reaches the instance metadata service, and so the instance role,
# whatever the hop limit; on the bridge, hop limit 1 stops the IMDSv2 token response (AWS,
# "Configure the instance metadata options", checked 2026-11-30). Tensor parallel ranks share one
# container, so --ipc=host is all NCCL needs.
set -euo pipefail
QS_LIB="${QS_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
# shellcheck source=lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"

mapfile -t argv <"$ENGINE_ARGV_FILE"
[ "${#argv[@]}" -gt 0 ] || { echo "qwen3-serve: $ENGINE_ARGV_FILE is empty" >&2; exit 2; }

# vLLM and SGLang also keep their compile caches on the host (render.ts ENGINE_CACHE), so a restart
# or a rebuilt container skips compiling; Ollama compiles nothing.
caches=()
case "$WEIGHTS_SOURCE" in
  hf)
    volume="$HF_CACHE:$QS_HF_CACHE_MOUNT"
    mkdir -p "$ENGINE_CACHE"
    caches=(-v "$ENGINE_CACHE:$QS_ENGINE_CACHE_MOUNT")
    for setting in $QS_ENGINE_CACHE_ENV; do caches+=(-e "$setting"); done
    ;;
  ollama) volume="$OLLAMA_CACHE:$QS_OLLAMA_CACHE_MOUNT" ;;
  *) echo "qwen3-serve: unknown WEIGHTS_SOURCE $WEIGHTS_SOURCE" >&2; exit 2 ;;
esac
mkdir -p "${volume%%:*}"

# docker run reads --gpus as CSV: "device=0,1" must keep its inner quotes, or Docker takes ",1"
# as a count and refuses (docker/cli opts/gpus.go, checked 2026-11-30).
gpus="${GPU_DEVICES:-all}"
case "$gpus" in device=*) gpus="\"$gpus\"" ;; esac

ulimits=()
for limit in $ENGINE_ULIMITS; do ulimits+=(--ulimit "$limit"); done

# Streaming from the S3 weights mirror: the engine cannot reach the instance role (above), and must
# not, so it gets the weights-read role's own short-lived credentials in a second env file, fresh at
# every start, with the SDK's metadata lookup off (it would only time out on the bridge).
aws_env=()
if [ "${WEIGHTS_MIRROR_STREAM:-}" = 1 ]; then
  # shellcheck source=mirror.sh
  . "$QS_LIB/mirror.sh"
  creds="$QS_ROOT/run/qwen3-serve/engine-aws.env"
  mirror_engine_credentials "$creds" ||
    { echo "qwen3-serve: could not assume $WEIGHTS_MIRROR_READ_ROLE_ARN for the engine's S3 stream" >&2; exit 1; }
  aws_env=(--env-file "$creds")
fi

docker rm -f qwen3-serve-engine >/dev/null 2>&1 || true
# json-file, capped: the engine logs every request, and the default driver never rotates.
exec docker run --rm --name qwen3-serve-engine \
  --gpus "$gpus" --ipc=host -p "127.0.0.1:${ENGINE_PORT}:${ENGINE_PORT}" \
  --log-driver json-file --log-opt "max-size=${ENGINE_LOG_MAX_SIZE}" --log-opt "max-file=${ENGINE_LOG_MAX_FILES}" \
  "${ulimits[@]}" \
  -v "$volume" --env-file "$ENGINE_ENV_FILE" "${aws_env[@]}" "${caches[@]}" \
  --entrypoint "${argv[0]}" "$(engine_image_ref)" "${argv[@]:1}"
