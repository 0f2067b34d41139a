# syntax=docker/dockerfile:1
# A vLLM server for PaddleOCR-VL, started with paddleocr's official `paddleocr genai_server`.
# vllm/vllm-openai v0.10.2 carries exactly the torch 2.8 / vLLM 0.10.2 that
# paddlex[genai-vllm-server] 3.7 pins; the VL model is fetched at build time.
FROM vllm/vllm-openai:v0.10.2

ARG PADDLEOCR_VERSION=3.7.0
ARG PADDLEX_VERSION=3.7.2
ARG PIPELINE_VERSION=v1.6
ARG MODEL_SOURCE=huggingface

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The image's python is what vLLM runs on; paddleocr brings the genai_server command and its
# chat template for PaddleOCR-VL. paddlepaddle is needed only to import paddlex.
RUN python3 -m pip install --no-cache-dir \
        "paddleocr[doc-parser]==${PADDLEOCR_VERSION}" \
        "paddlex[genai-vllm-server]==${PADDLEX_VERSION}" \
        paddlepaddle==3.2.0

WORKDIR /opt/docwatch-src
COPY pyproject.toml README.md ./
COPY processor ./processor
COPY watcher ./watcher
RUN python3 -m pip install --no-cache-dir . \
    && PADDLE_PDX_MODEL_SOURCE="${MODEL_SOURCE}" python3 -c "from processor import models; from processor.options import PaddleEngineOptions as P; \
models.fetch(P(pipeline_version='${PIPELINE_VERSION}', use_layout_detection=False), '/opt/models', everything=False)" \
    && rm -rf /opt/docwatch-src /root/.cache

WORKDIR /opt/models
EXPOSE 8118
ENTRYPOINT []
