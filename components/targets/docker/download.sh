#!/bin/sh
# The Docker target's one-shot weights download (`hf download ...` into the weights volume), run
# from the engine's own image. The Hugging Face token arrives as a root-only file uploaded into
# this container. Docker keeps a finished container, and `docker cp` or `docker export` copies any
# file out of it, so the token moves into this process's environment (which is not the
# container's configured env that `docker inspect` shows) and the file is deleted before the
# download starts: the container that stays behind holds no token.
# POSIX sh: the vLLM and SGLang images both have /bin/sh.
set -eu

token_file="${QS_HF_TOKEN_FILE:?QS_HF_TOKEN_FILE must name where the token may be}"
if [ -f "$token_file" ]; then
  HF_TOKEN="$(cat "$token_file")"
  rm -f "$token_file"
  export HF_TOKEN
fi

exec hf "$@"
