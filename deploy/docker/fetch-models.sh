#!/usr/bin/env bash
# Image build step: download every model the configured PaddleOCR pipeline can load into
# MODEL_DIR with paddlex's own downloader, verify them, and drop the download caches.
# Any failure fails the build (no `|| true`).
#
#   fetch-models.sh MODEL_DIR [ENGINE] [PIPELINE_VERSION]
#
# ENGINE: paddleocr-vl (default) | pp-structurev3 | cpu (nothing to fetch).
set -euo pipefail

model_dir="${1:?usage: fetch-models.sh MODEL_DIR [ENGINE] [PIPELINE_VERSION]}"
engine="${2:-${DOCWATCH_ENGINE:-paddleocr-vl}}"
version="${3:-${DOCWATCH_PADDLE__PIPELINE_VERSION:-v1.6}}"

if [[ "$engine" == "cpu" ]]; then
    echo "engine cpu: no models to fetch"
    exit 0
fi

export PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True
export DOCWATCH_ENGINE="$engine"
export DOCWATCH_PADDLE__PIPELINE_VERSION="$version"
# Downloads land in MODEL_DIR; paddlex's scratch space goes to a throwaway cache.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export PADDLE_PDX_CACHE_HOME="$scratch/paddlex"
export HF_HOME="$scratch/huggingface"
export MODELSCOPE_CACHE="$scratch/modelscope"

mkdir -p "$model_dir"
docwatch models fetch --dir "$model_dir" --engine "$engine"
docwatch models verify --dir "$model_dir" --engine "$engine"
# git-based hosters leave their metadata beside the weights; it is not needed at run time
find "$model_dir" -depth -type d \( -name .git -o -name .cache \) -exec rm -rf {} +
chmod -R a+rX "$model_dir"
du -sh "$model_dir"
