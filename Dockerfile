# syntax=docker/dockerfile:1
#
# docwatch images. Two targets, picked with the ENGINE build arg (or --target):
#
#   docker build -t docwatch:gpu .                      # ENGINE=paddleocr-vl: PaddleOCR-VL on a GPU,
#                                                       #   models baked in, starts with no network
#   docker build -t docwatch:cpu --build-arg ENGINE=cpu .   # small CPU image: text layer + Tesseract
#
#   Both install the hashed locks in requirements/ (scripts/lock.sh): the CPU image cpu.txt, the
#   GPU image paddle.txt plus paddlepaddle-gpu from Paddle's cu126 index (PADDLE_GPU_INDEX_URL).
#   The first GPU build with an empty deploy/models.lock.json pins the models it fetched and
#   prints the lock to commit; a filled lock is verified (MODELS_LOCK_MODE, deploy/README.md).
#
# The GPU target is for CUDA 12.x on Ampere/Hopper (A100/H100, also A10/L4/L40S). Blackwell (sm_120)
# needs Paddle's separate CUDA 12.9 wheels, which this file does not use.
# See deploy/README.md for running it.

ARG ENGINE=paddleocr-vl

# Both targets start from plain Python; the GPU one gets CUDA from the paddlepaddle-gpu wheel.
ARG PYTHON_BASE_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------------------------
# CPU-only image: DOCWATCH_ENGINE=cpu
FROM ${PYTHON_BASE_IMAGE} AS cpu

# Debian's security updates move these versions; pinning them would break rebuilds. OpenCV is
# the headless wheel: no GUI libraries needed.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The lock, every file checked against its sha256; --no-deps: the lock is complete.
COPY requirements/cpu.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.txt && rm /tmp/requirements.txt

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY processor ./processor
COPY watcher ./watcher
RUN pip install --no-cache-dir --no-deps . && rm -rf /src

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
#
# As the official PaddleOCR-VL images: a plain Python image plus Paddle's CUDA 12.6 wheel of
# paddlepaddle-gpu, which brings its own CUDA libraries (nvidia-*-cu12 wheels): one CUDA stack.
FROM ${PYTHON_BASE_IMAGE} AS paddleocr-vl

# paddlepaddle-gpu at the version the tests run (pyproject's [paddle-cpu] pin; PaddleOCR-VL needs
# 3.2.1 or later); paddleocr and the rest come from requirements/paddle.txt.
ARG PADDLEPADDLE_GPU_VERSION=3.3.1
# Paddle's own wheel index for CUDA 12.6 (paddlepaddle-gpu 3.x is not on the default index), as
# the PaddleOCR-VL installation guide gives it for cu126.
ARG PADDLE_GPU_INDEX_URL=https://www.paddlepaddle.org.cn/packages/stable/cu126/
# What `docwatch models fetch` bakes in: the engine and the PaddleOCR-VL pipeline version.
ARG PIPELINE_ENGINE=paddleocr-vl
ARG PIPELINE_VERSION=v1.6
# First model hoster paddlex tries (huggingface, aistudio, modelscope, bos); others are fallbacks.
ARG MODEL_SOURCE=huggingface
# auto: record when deploy/models.lock.json pins nothing (the build prints the lock: commit it),
# verify when it does; verify: every model file must match the lock, an empty lock fails the
# build; record: pin what was fetched -- see deploy/README.md.
ARG MODELS_LOCK_MODE=auto

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Tesseract too, so DOCWATCH_ENGINE=cpu also works in this image; libgl1 and libglib2.0-0 for
# paddlex's OpenCV (opencv-contrib-python, not headless: paddlex checks for that distribution).
# Distro security updates move the versions; pinning them would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng fonts-dejavu-core \
        libgl1 libglib2.0-0 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The lock first (hashes checked, --no-deps: it is complete), then paddlepaddle-gpu from Paddle's
# index, added to the default one (which stays implicit). The GPU wheel is the one package not in
# a lock: it and the CUDA wheels (nvidia-*-cu12) it asks for are resolved here; what the lock
# already holds stays as locked.
COPY requirements/paddle.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt \
    && pip install --no-cache-dir --extra-index-url "${PADDLE_GPU_INDEX_URL}" \
        "paddlepaddle-gpu==${PADDLEPADDLE_GPU_VERSION}"

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY processor ./processor
COPY watcher ./watcher
RUN pip install --no-cache-dir --no-deps . && rm -rf /src

# Models baked in at build time from the official hosters with paddlex's public downloader, into
# the directory PADDLE_PDX_CACHE_HOME points at during the build, every file checked against
# its pinned sha256. Network is needed here, never at run time. A failed or incomplete download,
# or a file that does not match its pin, fails the build.
COPY deploy/models.lock.json /opt/docwatch/models.lock.json
COPY deploy/docker/fetch-models.sh deploy/docker/models-lock-mode.sh deploy/docker/healthcheck.sh /usr/local/bin/
RUN PADDLE_PDX_MODEL_SOURCE="${MODEL_SOURCE}" \
    /usr/local/bin/fetch-models.sh /opt/docwatch/paddlex "${PIPELINE_ENGINE}" "${PIPELINE_VERSION}" \
        /opt/docwatch/models.lock.json "${MODELS_LOCK_MODE}" \
    && mv /usr/local/bin/healthcheck.sh /usr/local/bin/docwatch-healthcheck \
    && chmod 0755 /usr/local/bin/docwatch-healthcheck

RUN useradd --create-home --home-dir /home/docwatch --uid 10001 --user-group --shell /bin/bash docwatch \
    && mkdir -p /var/cache/docwatch/paddlex \
    && chown -R docwatch:docwatch /var/cache/docwatch

# At run time paddlex's cache is a writable directory of its own; the baked models are read from
# the build's cache home (read-only root filesystems keep working).
ENV DOCWATCH_ENGINE=${PIPELINE_ENGINE} \
    DOCWATCH_PADDLE__PIPELINE_VERSION=${PIPELINE_VERSION} \
    DOCWATCH_PADDLE__DEVICE=gpu:0 \
    DOCWATCH_PADDLE__MODEL_DIR=/opt/docwatch/paddlex/official_models \
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
