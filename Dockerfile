# syntax=docker/dockerfile:1
#
# docwatch images. Two targets, picked with the ENGINE build arg (or --target):
#
#   docker build -t docwatch:gpu .                      # ENGINE=paddleocr-vl: PaddleOCR-VL on a GPU,
#                                                       #   models baked in, starts with no network
#   docker build -t docwatch:cpu --build-arg ENGINE=cpu .   # small CPU image: text layer + Tesseract
#
# The GPU target is for CUDA 12.x on Ampere/Hopper (A100/H100, also A10/L4/L40S). Blackwell (sm_120)
# needs Paddle's separate CUDA 12.9 images and wheels, which this file does not use.
# See deploy/README.md for running it.

ARG ENGINE=paddleocr-vl

# Official PaddlePaddle GPU image (CUDA 12.6, cuDNN 9.5): brings the CUDA user-space libraries.
ARG PADDLE_BASE_IMAGE=paddlepaddle/paddle:3.2.0-gpu-cuda12.6-cudnn9.5
ARG CPU_BASE_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------------------------
# CPU-only image: DOCWATCH_ENGINE=cpu
FROM ${CPU_BASE_IMAGE} AS cpu

# Debian's security updates move these versions; pinning them would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng fonts-dejavu-core \
        libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY processor ./processor
COPY watcher ./watcher
RUN pip install --no-cache-dir . && rm -rf /src

COPY deploy/docker/healthcheck.sh /usr/local/bin/docwatch-healthcheck
RUN useradd --create-home --home-dir /home/docwatch --uid 10001 --user-group --shell /bin/bash docwatch \
    && chmod 0755 /usr/local/bin/docwatch-healthcheck

ENV DOCWATCH_ENGINE=cpu \
    DOCWATCH_HEALTH_PORT=8081 \
    HOME=/home/docwatch
USER 10001:10001
WORKDIR /home/docwatch
EXPOSE 8081
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["docwatch-healthcheck"]
ENTRYPOINT ["docwatch"]
CMD ["run"]

# --------------------------------------------------------------------------------------------
# GPU image: PaddleOCR-VL (DOCWATCH_ENGINE=paddleocr-vl; pp-structurev3 works with PIPELINE_ENGINE)
FROM ${PADDLE_BASE_IMAGE} AS paddleocr-vl

# Pinned versions. paddlepaddle-gpu comes from Paddle's CUDA 12.6 wheel index.
ARG PADDLEPADDLE_GPU_VERSION=3.2.0
ARG PADDLE_INDEX_URL=https://www.paddlepaddle.org.cn/packages/stable/cu126/
ARG PADDLEOCR_VERSION=3.7.0
ARG UV_VERSION=0.9.5
ARG PYTHON_VERSION=3.11
# What `docwatch models fetch` bakes in: the engine and the PaddleOCR-VL pipeline version.
ARG PIPELINE_ENGINE=paddleocr-vl
ARG PIPELINE_VERSION=v1.6
# First model hoster paddlex tries (huggingface, aistudio, modelscope, bos); others are fallbacks.
ARG MODEL_SOURCE=huggingface

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Tesseract too, so DOCWATCH_ENGINE=cpu also works in this image. Distro security updates move
# the versions; pinning them would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng fonts-dejavu-core \
        libgl1 libglib2.0-0 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_NO_CACHE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# docwatch needs Python >= 3.11 whatever Python the base image ships: a uv-managed CPython in
# its own venv, with Paddle's pinned GPU wheel (it pulls the matching nvidia-* CUDA wheels).
RUN python3 -m pip install --no-cache-dir "uv==${UV_VERSION}" \
    && uv python install "${PYTHON_VERSION}" \
    && uv venv --python "${PYTHON_VERSION}" /opt/venv \
    && uv pip install --python /opt/venv/bin/python \
        --index-url "${PADDLE_INDEX_URL}" --extra-index-url https://pypi.org/simple \
        --index-strategy unsafe-best-match \
        "paddlepaddle-gpu==${PADDLEPADDLE_GPU_VERSION}" \
    && uv pip install --python /opt/venv/bin/python "paddleocr[doc-parser]==${PADDLEOCR_VERSION}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY processor ./processor
COPY watcher ./watcher
RUN uv pip install --python /opt/venv/bin/python . "paddleocr[doc-parser]==${PADDLEOCR_VERSION}" \
    && rm -rf /src

# Models baked in at build time (network needed here, never at run time). A failed or
# incomplete download fails the build.
COPY deploy/docker/fetch-models.sh deploy/docker/healthcheck.sh /usr/local/bin/
RUN PADDLE_PDX_MODEL_SOURCE="${MODEL_SOURCE}" \
    /usr/local/bin/fetch-models.sh /opt/docwatch/models "${PIPELINE_ENGINE}" "${PIPELINE_VERSION}" \
    && mv /usr/local/bin/healthcheck.sh /usr/local/bin/docwatch-healthcheck \
    && chmod 0755 /usr/local/bin/docwatch-healthcheck

RUN useradd --create-home --home-dir /home/docwatch --uid 10001 --user-group --shell /bin/bash docwatch \
    && mkdir -p /var/cache/docwatch/paddlex \
    && chown -R docwatch:docwatch /var/cache/docwatch

ENV DOCWATCH_ENGINE=${PIPELINE_ENGINE} \
    DOCWATCH_PADDLE__PIPELINE_VERSION=${PIPELINE_VERSION} \
    DOCWATCH_PADDLE__DEVICE=gpu:0 \
    DOCWATCH_PADDLE__MODEL_DIR=/opt/docwatch/models \
    DOCWATCH_HEALTH_PORT=8081 \
    PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True \
    PADDLE_PDX_CACHE_HOME=/var/cache/docwatch/paddlex \
    HOME=/home/docwatch

USER 10001:10001
WORKDIR /home/docwatch
EXPOSE 8081
# Model load + warm-up takes a while on first start; /readyz tells when it is done.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 CMD ["docwatch-healthcheck"]
ENTRYPOINT ["docwatch"]
CMD ["run"]

# --------------------------------------------------------------------------------------------
# `docker build .` builds the target named by ENGINE.
# hadolint ignore=DL3006
FROM ${ENGINE} AS final
