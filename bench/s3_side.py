"""The S3 side of a bench, in a process of its own: moto's S3 server behind the fault proxy.

Why a process: moto and the proxy are Python and busy (a request costs them milliseconds of
CPU); in the bench's own process they would share its interpreter lock with the stand-in VL
server, and the bench would measure that contention, not docwatch. A real store is remote.

    python bench/s3_side.py --slow-seconds 0.05   # prints {"moto": url, "proxy": url}, then,
                                                  # when stdin closes, {"requests": n}
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
    """The process, from the bench's side: ``moto``/``proxy`` URLs; ``stop()`` gives the number
    of requests the proxy saw and the CPU seconds moto and the proxy used."""

    def __init__(self, slow_seconds: float) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--slow-seconds", str(slow_seconds)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert self.proc.stdout is not None
        urls = json.loads(self.proc.stdout.readline())
        self.moto, self.proxy = urls["moto"], urls["proxy"]

    def stop(self) -> dict:
        """The proxy's request count and the CPU seconds moto and the proxy used."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        figures = json.loads(self.proc.stdout.readline())
        self.proc.wait(30)
        return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow-seconds", type=float, default=0.05)
    args = ap.parse_args()
    from tests.fault_proxy import FaultProxy, FaultRates
    from tests.s3_server import MotoS3

    moto = MotoS3()
    proxy = FaultProxy(moto.url, FaultRates(slow=1.0, slow_seconds=args.slow_seconds), seed=1).start()
    print(json.dumps({"moto": moto.url, "proxy": proxy.url}), flush=True)
    sys.stdin.read()  # until the bench closes our stdin
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"requests": proxy.stats.total(), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}), flush=True)
    proxy.stop()
    moto.stop()


if __name__ == "__main__":
    main()
