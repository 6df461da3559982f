#!/usr/bin/env bash
# ExecStart of qwen3-serve-engine.service: run the pinned engine image with the planned argv and
# env, on the host network but bound to 127.0.0.1 (the proxy is the only public door).
set -euo pipefail
QS_LIB="${QS_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
# shellcheck source=lib.sh
. "$QS_LIB/lib.sh"
load_env "${QS_ENV_FILE:-$CONF_DIR/bootstrap.env}"

mapfile -t argv <"$CONF_DIR/engine.argv"
[ "${#argv[@]}" -gt 0 ] || { echo "qwen3-serve: $CONF_DIR/engine.argv is empty" >&2; exit 2; }

case "$WEIGHTS_SOURCE" in
  hf) volume="$STATE_DIR/hf:/root/.cache/huggingface" ;;
  ollama) volume="$STATE_DIR/ollama:/root/.ollama" ;;
  *) echo "qwen3-serve: unknown WEIGHTS_SOURCE $WEIGHTS_SOURCE" >&2; exit 2 ;;
esac
mkdir -p "${volume%%:*}"

docker rm -f qwen3-serve-engine >/dev/null 2>&1 || true
exec docker run --rm --name qwen3-serve-engine \
  --gpus "${GPU_DEVICES:-all}" --ipc=host --network host \
  --ulimit memlock=-1 --ulimit stack=67108864 \
  -v "$volume" --env-file "$CONF_DIR/engine.env" \
  --entrypoint "${argv[0]}" "$ENGINE_IMAGE" "${argv[@]:1}"
