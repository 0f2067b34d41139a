# syntax=docker/dockerfile:1
# A vLLM server for PaddleOCR-VL, started with paddleocr's official `paddleocr genai_server
# --backend vllm`, pinned to the paddleocr/paddlex versions docwatch runs. vllm/vllm-openai v0.10.2
# carries exactly the torch 2.8 / vLLM 0.10.2 that paddlex[genai-vllm-server] 3.7 pins. The VL
# model is fetched at build time with paddlex's public downloader into PADDLE_PDX_CACHE_HOME and
# checked against deploy/models.lock.json, as in the docwatch GPU image.
FROM vllm/vllm-openai:v0.10.2

ARG PADDLEOCR_VERSION=3.7.0
ARG PADDLEX_VERSION=3.7.2
# the CPU wheel the tests run: only needed to import paddlex here
ARG PADDLEPADDLE_VERSION=3.3.1
ARG PIPELINE_VERSION=v1.6
# the served model name: what docwatch's pipeline asks for (DOCWATCH_PADDLE__VL_REC_API_MODEL_NAME)
ARG VL_MODEL_NAME=PaddleOCR-VL-1.6-0.9B
ARG MODEL_SOURCE=huggingface
# auto: record when deploy/models.lock.json pins nothing (the build prints it), verify when it
# does; verify refuses an empty lock (deploy/docker/models-lock-mode.sh)
ARG MODELS_LOCK_MODE=auto

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True \
    PADDLE_PDX_CACHE_HOME=/opt/paddlex \
    VL_MODEL_NAME=${VL_MODEL_NAME}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The image's python is what vLLM runs on; paddleocr brings the genai_server command and its
# chat template for PaddleOCR-VL.
RUN python3 -m pip install --no-cache-dir \
        "paddleocr[doc-parser]==${PADDLEOCR_VERSION}" \
        "paddlex[genai-vllm-server]==${PADDLEX_VERSION}" \
        "paddlepaddle==${PADDLEPADDLE_VERSION}"

WORKDIR /opt/docwatch-src
COPY pyproject.toml README.md ./
COPY processor ./processor
COPY watcher ./watcher
COPY deploy/models.lock.json /opt/paddlex-models.lock.json
COPY deploy/docker/models-lock-mode.sh /usr/local/bin/
RUN python3 -m pip install --no-cache-dir . \
    && mode="$(models-lock-mode.sh "${MODELS_LOCK_MODE}" /opt/paddlex-models.lock.json)" \
    && if [ "$mode" = record ]; then record=(--record-lock); else record=(); fi \
    && PADDLE_PDX_MODEL_SOURCE="${MODEL_SOURCE}" DOCWATCH_ENGINE=paddleocr-vl \
        DOCWATCH_PADDLE__PIPELINE_VERSION="${PIPELINE_VERSION}" DOCWATCH_PADDLE__USE_LAYOUT_DETECTION=false \
        docwatch models fetch --needed-only --cache-home /opt/paddlex --lock /opt/paddlex-models.lock.json "${record[@]}" \
    && if [ "$mode" = record ]; then echo "---- commit as deploy/models.lock.json ----"; cat /opt/paddlex-models.lock.json; fi \
    && rm -rf /opt/docwatch-src /root/.cache

WORKDIR /opt/paddlex
EXPOSE 8118
ENTRYPOINT []
CMD ["/bin/bash", "-c", "exec paddleocr genai_server --model_name \"$VL_MODEL_NAME\" --model_dir \"/opt/paddlex/official_models/${VL_MODEL_NAME%-0.9B}\" --backend vllm --host 0.0.0.0 --port 8118"]
