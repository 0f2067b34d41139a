"""The S3 side of a bench, in processes of their own: moto's S3 server, and the fault proxy in
front of it.

Why processes: moto and the proxy are Python and busy (a request costs them milliseconds of
CPU); in the bench's own process they would share its interpreter lock with the stand-in VL
server, and in one process with each other, and the bench would measure that contention, not
docwatch. A real store is remote, and answers many requests at once.

    python bench/s3_side.py --role moto          # prints {"url": ...}; when stdin closes, {"cpu_s": s}
    python bench/s3_side.py --role proxy --upstream URL --slow-seconds 0.05   # ... {"requests": n, "cpu_s": s}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class S3Side:
    """The processes, from the bench's side: ``moto``/``proxy`` URLs; ``stop()`` gives the number
    of requests the proxy saw and the CPU seconds moto and the proxy used. moto and the proxy run
    in processes of their own: moto answers one request at a time under its interpreter lock
    (~5 ms of CPU each), and the proxy's forwarding in the same process took from that."""

    def __init__(self, slow_seconds: float, timeline: Path | None = None) -> None:
        self.moto_proc = self._start("--role", "moto")
        self.moto = self._url(self.moto_proc)
        extra = ("--timeline", str(timeline)) if timeline else ()
        self.proxy_proc = self._start("--role", "proxy", "--upstream", self.moto, "--slow-seconds", str(slow_seconds),
                                      *extra)
        self.proxy = self._url(self.proxy_proc)

    @staticmethod
    def _start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)  # fmt: skip

    @staticmethod
    def _url(proc: subprocess.Popen) -> str:
        assert proc.stdout is not None
        return json.loads(proc.stdout.readline())["url"]

    def stop(self) -> dict:
        """The proxy's request count and the CPU seconds moto and the proxy used."""
        figures = {}
        for name, proc in (("proxy", self.proxy_proc), ("moto", self.moto_proc)):
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
            figures[name] = json.loads(proc.stdout.readline())
            proc.wait(30)
        return {"requests": figures["proxy"]["requests"], "cpu_s": round(figures["proxy"]["cpu_s"] + figures["moto"]["cpu_s"], 2),
                "moto_cpu_s": figures["moto"]["cpu_s"], "proxy_cpu_s": figures["proxy"]["cpu_s"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=("moto", "proxy"), required=True)
    ap.add_argument("--upstream", help="proxy: moto's URL")
    ap.add_argument("--slow-seconds", type=float, default=0.05)
    ap.add_argument("--timeline", type=Path, help="proxy: write every request (arrived, answered, method, path, status) here as JSON lines")
    args = ap.parse_args()
    import resource

    from tests.fault_proxy import FaultProxy, FaultRates
    from tests.s3_server import MotoS3

    if args.role == "moto":
        server = MotoS3(s3_only=True)  # (moto's front would work out the service of every request)
        print(json.dumps({"url": server.url}), flush=True)
        sys.stdin.read()  # until the bench closes our stdin
        figures = {}
    else:
        server = FaultProxy(args.upstream, FaultRates(slow=1.0, slow_seconds=args.slow_seconds), seed=1)
        if args.timeline:
            server.stats.timeline = []
        server.start()
        print(json.dumps({"url": server.url}), flush=True)
        sys.stdin.read()
        figures = {"requests": server.stats.total()}
        if args.timeline:
            args.timeline.write_text("".join(json.dumps(row) + "\n" for row in server.stats.timeline or []))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({**figures, "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
