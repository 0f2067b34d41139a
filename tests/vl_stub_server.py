"""A small OpenAI-compatible chat-completions server that "is" a VL model by running Tesseract.

PaddleOCR-VL's ``vllm-server`` backend (paddlex ``GenAIClient`` → ``openai.AsyncOpenAI``) sends,
per layout block, ``POST {base}/chat/completions`` with::

    {"model": "<PaddleOCR-VL-…-0.9B>", "temperature": 0, "max_completion_tokens": …,
     "skip_special_tokens": true, "mm_processor_kwargs": {"min_pixels": …, "max_pixels": …},
     "messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,…"}},
         {"type": "text", "text": "OCR:"}]}]}          # or "Table Recognition:", "Formula Recognition:", …

and reads ``choices[0].message.content`` of the answer. This server decodes the image, runs the
real ``tesseract`` CLI on it (``-l rus+eng`` by default) and answers with the recognised text in
that shape, so the whole pipeline runs for real — minus the weights.

Throughput benches use ``StubVLServer(latency=0.5, max_concurrent=16)`` instead: every answer
comes ``latency`` seconds after the request, at most ``max_concurrent`` are served at once (the
rest wait their turn, as in a vLLM batch), and no Tesseract runs — the answer is a fixed short
text naming the prompt — so the stub itself costs next to no CPU.

Run standalone: ``python tests/vl_stub_server.py --port 8118`` (then
``vl_rec_server_url=http://127.0.0.1:8118/v1``); ``--latency 0.5 --max-concurrent 16`` for the
fixed-latency mode.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL_ID = "PaddleOCR-VL-stub"


def tesseract_text(image_bytes: bytes, languages: str = "rus+eng", psm: int = 6) -> str:
    """OCR an encoded image (PNG/JPEG) with the tesseract CLI; returns text with single newlines."""
    with tempfile.TemporaryDirectory(prefix="vlstub-") as tmp:
        path = Path(tmp) / "block.img"
        path.write_bytes(image_bytes)
        proc = subprocess.run(
            ["tesseract", str(path), "stdout", "-l", languages, "--psm", str(psm)],
            capture_output=True,
            timeout=120,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"tesseract failed: {proc.stderr.decode(errors='replace')[-500:]}")
    lines = [ln.strip() for ln in proc.stdout.decode("utf-8", errors="replace").splitlines()]
    return "\n".join(ln for ln in lines if ln)


def _decode_data_url(url: str) -> bytes:
    if not url.startswith("data:"):
        raise ValueError("only data: URLs are supported by the stub")
    _, _, payload = url.partition(",")
    return base64.b64decode(payload)


def _split_message(body: dict) -> tuple[bytes | None, str]:
    image, prompt = None, ""
    for msg in body.get("messages", []):
        content = msg.get("content")
        if isinstance(content, str):
            prompt = content
            continue
        for part in content or []:
            if part.get("type") == "image_url":
                image = _decode_data_url(part["image_url"]["url"])
            elif part.get("type") == "text":
                prompt = part.get("text", "")
    return image, prompt


class _Server(ThreadingHTTPServer):
    # a real VL server (vLLM under uvicorn) listens with a backlog of 2048; socketserver's 5
    # drops the SYNs of a client opening 16 connections at once (1 s retransmit each)
    request_queue_size = 1024
    daemon_threads = True


class StubVLServer:
    """``with StubVLServer() as srv: srv.base_url`` — a threaded server on 127.0.0.1, random port."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, languages: str = "rus+eng",
        latency: float | None = None, max_concurrent: int = 16,
    ) -> None:
        self.languages = languages
        self.latency = latency  # None: run Tesseract; else the fixed-latency mode (see module doc)
        self._slots = threading.BoundedSemaphore(max_concurrent)
        # {"prompt", "model", "image_bytes", "body_keys", "body" (no messages), "authorization", "answer",
        #  "arrived", "answered"} each
        self.requests: list[dict] = []
        self.reject_if: Callable[[str], bool] | None = None  # answer 400 when this says so of the text
        # a bad day, decided per request from the recognised text: "503" / "429" (an error
        # answer, as a busy vLLM gives), "stall:<seconds>" (answer that much later), or None
        self.fault: Callable[[str], str | None] | None = None
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, image: bytes | None, prompt: str) -> str:
        if self.latency is not None:
            with self._slots:  # requests beyond max_concurrent wait here, as in a full batch
                time.sleep(self.latency)
            return f"stub answer to {prompt.strip() or 'a request'}"
        if image is None:
            return ""
        return tesseract_text(image, self.languages)

    def start(self) -> StubVLServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="vl-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> StubVLServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: object) -> None:  # keep pytest output clean
                pass

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
                elif self.path.rstrip("/") in ("/health", "/v1/health"):
                    self._send(200, {"status": "ok"})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                arrived = time.time()
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    body = json.loads(self.rfile.read(length))
                    image, prompt = _split_message(body)
                    text = server.answer(image, prompt)
                    if server.reject_if is not None and server.reject_if(text):
                        self._send(400, {"error": {"message": "rejected by the stub", "type": "invalid_request"}})
                        return
                    fault = server.fault(text) if server.fault is not None else None
                    if fault in ("503", "429"):
                        self._send(int(fault), {"error": {"message": f"stub says {fault}", "type": "overloaded"}})
                        return
                    if fault and fault.startswith("stall:"):
                        time.sleep(float(fault.split(":", 1)[1]))
                except Exception as exc:  # the client sees a 500 like from a real server
                    self._send(500, {"error": {"message": str(exc), "type": "stub_error"}})
                    return
                with server._lock:
                    server.requests.append(
                        {
                            "prompt": prompt,
                            "model": body.get("model"),
                            "image_bytes": len(image or b""),
                            "body_keys": sorted(body),
                            "body": {k: v for k, v in body.items() if k != "messages"},
                            "authorization": self.headers.get("Authorization"),
                            "answer": text,
                            "arrived": arrived,  # (time.time(): when the request came, when answered)
                            "answered": time.time(),
                        }
                    )
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{uuid.uuid4().hex}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", MODEL_ID),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": len(text.split()), "total_tokens": 1},
                    },
                )

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8118)
    parser.add_argument("--lang", default="rus+eng")
    parser.add_argument("--latency", type=float, help="fixed-latency mode: seconds per answer, no Tesseract")
    parser.add_argument("--max-concurrent", type=int, default=16, help="fixed-latency mode: answers served at once")
    args = parser.parse_args()
    srv = StubVLServer(port=args.port, languages=args.lang, latency=args.latency, max_concurrent=args.max_concurrent)
    print(f"serving on {srv.base_url}", flush=True)
    srv._httpd.serve_forever()


if __name__ == "__main__":
    main()
