#!/usr/bin/env bash
# GPU smoke test: prove the PaddleOCR-VL path on a host with one NVIDIA GPU in minutes.
#
#   deploy/gpu-smoke.sh [options]               Docker: build (or take) the images, start the VL
#                                               server (paddleocr genai_server, vLLM) and docwatch
#   deploy/gpu-smoke.sh --no-docker [options]   the same with the Python environment at hand
#                                               (paddlepaddle-gpu + paddleocr + docwatch installed)
#
# For each pipeline version (default: v1.5 and v1.6) it drops the samples in deploy/smoke/
# (Russian and English, born-digital and scanned, each with <name>.expected.txt) into docwatch's
# input, waits for every manifest, runs the bare pipeline on the same files (bench/paddle_vl.py
# --bare), and prints per sample the edit distance of docwatch's Markdown to the expected text,
# docwatch's pages/s and the bare pipeline's pages/s. Exit status 1 on any failure: a build, a
# start, a document or page that failed, a manifest that never came, an edit distance above
# --max-ned; 2 on bad arguments.
#
# Options:
#   --versions "v1.5 v1.6"   pipeline versions to run
#   --no-build               Docker: take the images as they are (IMAGE:gpu-<version>, IMAGE-vl:<version>)
#   --image NAME             Docker image name prefix (default docwatch-smoke)
#   --vl-url URL             --no-docker: use this VL server (vllm-server backend) instead of the native one
#   --device DEV             --no-docker: paddle device (default gpu:0)
#   --timeout SECONDS        per wait: readiness, manifests (default 480)
#   --max-ned X              fail above this normalised edit distance (default 0.2)
#   --workdir DIR            keep inputs, outputs and logs here (default: a temporary directory)
# Environment: PADDLE_GPU_INDEX_URL (Docker builds: another index than the Dockerfile's default,
# see deploy/README.md), PYTHON (--no-docker:
# the environment's python, default python3), DOCWATCH_* settings (--no-docker: passed through).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
samples="$repo/deploy/smoke"
python="${PYTHON:-python3}"
mode=docker
versions="v1.5 v1.6"
build=1
image=docwatch-smoke
vl_url=""
device="gpu:0"
timeout=480
max_ned=0.2
workdir=""

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "gpu-smoke: $*" >&2; exit 1; }
bad_arg() { echo "gpu-smoke: $*" >&2; usage >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-docker) mode=local ;;
        --versions) versions="${2:?}"; shift ;;
        --no-build) build=0 ;;
        --image) image="${2:?}"; shift ;;
        --vl-url) vl_url="${2:?}"; shift ;;
        --device) device="${2:?}"; shift ;;
        --timeout) timeout="${2:?}"; shift ;;
        --max-ned) max_ned="${2:?}"; shift ;;
        --workdir) workdir="${2:?}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) bad_arg "unknown argument: $1" ;;
    esac
    shift
done
for v in $versions; do
    [[ "$v" =~ ^v1(\.5|\.6)?$ ]] || bad_arg "unknown pipeline version '$v' (v1, v1.5, v1.6)"
done
[[ "$timeout" =~ ^[0-9]+$ ]] || bad_arg "--timeout takes seconds"
[[ "$max_ned" =~ ^[0-9]*\.?[0-9]+$ ]] || bad_arg "--max-ned takes a number"
[[ $mode == local || -z "$vl_url" ]] || bad_arg "--vl-url is for --no-docker (the Docker variant starts its own)"

vl_model_name() {  # the served model name docwatch asks for, per pipeline version
    case "$1" in v1) echo PaddleOCR-VL-0.9B ;; *) echo "PaddleOCR-VL-${1#v}-0.9B" ;; esac
}
free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {  # URL SECONDS: until it answers 200
    "$python" - "$1" "$2" <<'PY'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        if urllib.request.urlopen(url, timeout=5).status == 200:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(1)
sys.exit(f"no answer from {url} within {sys.argv[2]}s")
PY
}
drop_samples() {  # into DIR, each under a temporary name first: the watcher never takes a half-copied file
    local f
    for f in "$samples"/*.expected.txt; do
        f="${f%.expected.txt}"
        cp "$f" "$1/.$(basename "$f").part"
        mv "$1/.$(basename "$f").part" "$1/$(basename "$f")"
    done
}
sample_keys() { local f; for f in "$samples"/*.expected.txt; do basename "${f%.expected.txt}"; done; }

if ! compgen -G "$samples/*.expected.txt" >/dev/null; then die "no samples in $samples"; fi
if [[ -z "$workdir" ]]; then
    workdir="$(mktemp -d -t docwatch-gpu-smoke.XXXXXX)"
fi
mkdir -p "$workdir"
started=()      # docker containers to remove
daemon_pid=""   # --no-docker daemon to stop
network=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [[ -n "$daemon_pid" ]]; then kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; fi
    if [[ ${#started[@]} -gt 0 ]]; then docker rm -f "${started[@]}" >/dev/null 2>&1; fi
    if [[ -n "$network" ]]; then docker network rm "$network" >/dev/null 2>&1; fi
    return 0
}
trap cleanup EXIT

run_local() {  # VERSION DIR: docwatch as a local daemon, then the bare pipeline
    local v="$1" dir="$2" port
    port="$(free_port)"
    local -a server=()
    if [[ -n "$vl_url" ]]; then
        server=(DOCWATCH_PADDLE__VL_REC_BACKEND=vllm-server "DOCWATCH_PADDLE__VL_REC_SERVER_URL=$vl_url"
                "DOCWATCH_PADDLE__VL_REC_API_MODEL_NAME=$(vl_model_name "$v")")
    fi
    env DOCWATCH_ENGINE=paddleocr-vl "DOCWATCH_PADDLE__PIPELINE_VERSION=$v" "DOCWATCH_PADDLE__DEVICE=$device" \
        "DOCWATCH_HEALTH_PORT=$port" DOCWATCH_HEALTH_HOST=127.0.0.1 DOCWATCH_LOG_FORMAT=json "${server[@]}" \
        "$python" -m watcher run --input "$dir/in" --output "$dir/out" >"$dir/docwatch.log" 2>&1 &
    daemon_pid=$!
    wait_http "http://127.0.0.1:$port/readyz" "$timeout" || { tail -n 20 "$dir/docwatch.log" >&2; return 1; }
    drop_samples "$dir/in"
    # shellcheck disable=SC2046 # one argument per sample name, none has spaces
    "$python" "$repo/bench/gpu_smoke.py" wait "$dir/out" $(sample_keys) --timeout "$timeout" || return 1
    kill "$daemon_pid"
    wait "$daemon_pid" || true  # SIGTERM: it finishes what it holds and exits 0
    daemon_pid=""
    local -a bare=(--inputs "$samples" --bare --strict --pipeline-version "$v" --device "$device"
                   --json "$dir/bare.json" --out "$dir/bare")
    [[ -n "$vl_url" ]] && bare+=(--vl-server-url "$vl_url" --vl-model-name "$(vl_model_name "$v")")
    "$python" "$repo/bench/paddle_vl.py" "${bare[@]}" >"$dir/bare.log" 2>&1 || { tail -n 20 "$dir/bare.log" >&2; return 1; }
}

run_docker() {  # VERSION DIR: VL server + docwatch containers, then the bare pipeline in the image
    local v="$1" dir="$2" port name
    name="$(vl_model_name "$v")"
    local gpu_image="$image:gpu-$v" vl_image="$image-vl:$v"
    if [[ $build == 1 ]]; then
        local index=()  # the Dockerfile's default index unless PADDLE_GPU_INDEX_URL names another
        [[ -n "${PADDLE_GPU_INDEX_URL:-}" ]] && index=(--build-arg "PADDLE_GPU_INDEX_URL=$PADDLE_GPU_INDEX_URL")
        docker build -t "$gpu_image" --build-arg "PIPELINE_VERSION=$v" \
            "${index[@]}" "$repo" >"$dir/build-gpu.log" 2>&1 \
            || { tail -n 30 "$dir/build-gpu.log" >&2; return 1; }
        docker build -t "$vl_image" -f "$repo/deploy/compose/vllm-server.Dockerfile" --build-arg "PIPELINE_VERSION=$v" \
            --build-arg "VL_MODEL_NAME=$name" "$repo" >"$dir/build-vl.log" 2>&1 \
            || { tail -n 30 "$dir/build-vl.log" >&2; return 1; }
    fi
    network="docwatch-smoke-$$-${v//./}"
    docker network create "$network" >/dev/null
    chmod 0777 "$dir/in" "$dir/out" "$dir/bare"  # the images run as uid 10001 / their own users
    # one GPU for both: vLLM takes part of its memory, docwatch's layout model the rest
    printf 'gpu-memory-utilization: 0.6\n' >"$dir/vllm.yaml"
    started+=("smoke-vl-$$")
    port="$(free_port)"
    docker run -d --name "smoke-vl-$$" --network "$network" --network-alias vl --gpus all --shm-size 8g \
        -p "127.0.0.1:$port:8118" -v "$dir/vllm.yaml:/cfg/vllm.yaml:ro" "$vl_image" \
        paddleocr genai_server --model_name "$name" --model_dir "/opt/paddlex/official_models/${name%-0.9B}" \
        --backend vllm --host 0.0.0.0 --port 8118 --backend_config /cfg/vllm.yaml >/dev/null
    # docwatch's warm-up page goes through the VL server: it must be up first
    wait_http "http://127.0.0.1:$port/health" "$timeout" || { docker logs --tail 30 "smoke-vl-$$" >&2; return 1; }
    port="$(free_port)"
    started+=("smoke-dw-$$")
    docker run -d --name "smoke-dw-$$" --network "$network" --gpus all -p "127.0.0.1:$port:8081" \
        -v "$dir/in:/in" -v "$dir/out:/out" -e DOCWATCH_INPUT=/in -e DOCWATCH_OUTPUT=/out \
        -e DOCWATCH_PADDLE__VL_REC_BACKEND=vllm-server -e DOCWATCH_PADDLE__VL_REC_SERVER_URL=http://vl:8118/v1 \
        -e "DOCWATCH_PADDLE__VL_REC_API_MODEL_NAME=$name" "$gpu_image" >/dev/null
    wait_http "http://127.0.0.1:$port/readyz" "$timeout" \
        || { docker logs --tail 30 "smoke-vl-$$" >&2; docker logs --tail 30 "smoke-dw-$$" >&2; return 1; }
    drop_samples "$dir/in"
    # shellcheck disable=SC2046 # one argument per sample name, none has spaces
    "$python" "$repo/bench/gpu_smoke.py" wait "$dir/out" $(sample_keys) --timeout "$timeout" || return 1
    docker logs "smoke-dw-$$" >"$dir/docwatch.log" 2>&1
    docker rm -f "smoke-dw-$$" >/dev/null
    docker run --rm --network "$network" --gpus all -v "$repo:/repo:ro" -v "$dir/bare:/bare" --entrypoint python \
        "$gpu_image" /repo/bench/paddle_vl.py --inputs /repo/deploy/smoke --bare --strict --pipeline-version "$v" \
        --vl-server-url http://vl:8118/v1 --vl-model-name "$name" --json /bare/bare.json --out /bare/md \
        >"$dir/bare.log" 2>&1 || { tail -n 20 "$dir/bare.log" >&2; return 1; }
    cp "$dir/bare/bare.json" "$dir/bare.json"
    docker rm -f "smoke-vl-$$" >/dev/null
    docker network rm "$network" >/dev/null
    network=""
}

if [[ $mode == docker ]]; then
    command -v docker >/dev/null || die "docker is not installed (or run with --no-docker)"
    docker info >/dev/null 2>&1 || die "the Docker engine is not reachable"
    command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "gpu-smoke: nvidia-smi not found on the host; relying on --gpus all" >&2
else
    "$python" -c 'import paddleocr, processor' 2>/dev/null \
        || die "$python cannot import paddleocr and docwatch (set PYTHON to the environment's python)"
fi

failed=0
scores=()
t0=$SECONDS
for v in $versions; do
    dir="$workdir/$v"
    mkdir -p "$dir/in" "$dir/out" "$dir/bare"
    echo "== PaddleOCR-VL $v ($mode) in $dir"
    if [[ $mode == docker ]]; then run_docker "$v" "$dir" || failed=1; else run_local "$v" "$dir" || failed=1; fi
    "$python" "$repo/bench/gpu_smoke.py" score --samples "$samples" --out "$dir/out" --version "$v" \
        --bare-json "$dir/bare.json" --max-ned "$max_ned" --json "$dir/score.json" || failed=1
    scores+=("$dir/score.json")
done
echo "== summary ($((SECONDS - t0)) s; outputs in $workdir)"
"$python" "$repo/bench/gpu_smoke.py" summary "${scores[@]}" || failed=1
[[ $failed == 0 ]] && echo "gpu-smoke: OK" || echo "gpu-smoke: FAILED" >&2
exit "$failed"
