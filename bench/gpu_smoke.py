"""The GPU smoke test's waiting and scoring (deploy/gpu-smoke.sh calls it). Standard library only, so
the host running the Docker variant needs nothing but python3.

    python3 bench/gpu_smoke.py wait OUT KEY... [--timeout S]       every KEY's manifest finished
    python3 bench/gpu_smoke.py score --samples DIR --out OUT --version V [--bare-json F] [--max-ned X] [--json F]
    python3 bench/gpu_smoke.py summary F...                         one table over the versions' score JSONs

``score`` prints, per sample, the normalised edit distance (NED: Levenshtein distance / longer
length, after both texts lose Markdown/HTML marks and whitespace runs) of docwatch's Markdown to
``<sample>.expected.txt``, and docwatch's pages/s (pages / wall time from the first claim to the
last finish) beside the bare pipeline's (``bench/paddle_vl.py --bare --json``). It exits 1 when a
document did not succeed, a page failed, or a NED exceeds ``--max-ned``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
from datetime import datetime
from pathlib import Path

SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"[#*_|>`$]", " ", text)
    return " ".join(text.split())


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def ned(prediction: str, truth: str) -> float:
    a, b = normalise(prediction), normalise(truth)
    return levenshtein(a, b) / max(len(a), len(b), 1)


def samples(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and Path(f"{p}.expected.txt").is_file())


def manifest(out: Path, key: str) -> dict | None:
    path = out / key / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or caught mid-rename
        return None


def wait(out: Path, keys: list[str], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        states = {k: (manifest(out, k) or {}).get("status") for k in keys}
        if all(s in ("succeeded", "failed") for s in states.values()):
            print("manifests:", ", ".join(f"{k}={s}" for k, s in states.items()))
            return 0
        if time.monotonic() > deadline:
            print(f"timed out after {timeout:.0f}s waiting for manifests: {states}", file=sys.stderr)
            return 1
        time.sleep(2)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def score(folder: Path, out: Path, version: str, bare: dict | None, max_ned: float) -> dict:
    rows, problems, pages, starts, ends = [], [], 0, [], []
    for sample in samples(folder):
        m = manifest(out, sample.name) or {}
        status = m.get("status", "missing")
        md_path = out / sample.name / f"{sample.stem}.md"
        distance = ned(md_path.read_text(), Path(f"{sample}.expected.txt").read_text()) if md_path.is_file() else 1.0
        failed_pages = (m.get("pages") or {}).get("failed") or []
        rows.append({"sample": sample.name, "status": status, "pages": (m.get("pages") or {}).get("total", 0),
                     "ned": round(distance, 4)})  # fmt: skip
        if status != "succeeded" or failed_pages:
            problems.append(f"{sample.name}: {status} {m.get('error') or failed_pages}")
        elif distance > max_ned:
            problems.append(f"{sample.name}: NED {distance:.3f} > {max_ned}")
        pages += rows[-1]["pages"]
        if m.get("started_at") and m.get("finished_at"):
            starts.append(_ts(m["started_at"]))
            ends.append(_ts(m["finished_at"]))
    span = max(ends) - min(starts) if starts else 0.0
    if not rows:
        problems.append(f"no samples with expected text in {folder}")
    return {"pipeline_version": version, "samples": rows, "pages": pages, "seconds": round(span, 3),
            "pages_per_second": round(pages / span, 4) if span else 0.0,
            "bare_pages_per_second": (bare or {}).get("pages_per_second"), "problems": problems}  # fmt: skip


def table(results: list[dict]) -> str:
    names = [r["sample"] for r in results[0]["samples"]] if results else []
    head = "| sample | " + " | ".join(f"NED {r['pipeline_version']}" for r in results) + " |"
    lines = [head, "|---" * (len(results) + 1) + "|"]
    for i, name in enumerate(names):
        lines.append(f"| {name} | " + " | ".join(f"{r['samples'][i]['ned']:.4f}" for r in results) + " |")
    for label, key in (("docwatch pages/s", "pages_per_second"), ("bare pipeline pages/s", "bare_pages_per_second")):
        cells = [f"{r[key]:.2f}" if isinstance(r[key], (int, float)) else "-" for r in results]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait")
    w.add_argument("out", type=Path)
    w.add_argument("keys", nargs="+")
    w.add_argument("--timeout", type=float, default=480)
    s = sub.add_parser("score")
    s.add_argument("--samples", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--version", required=True)
    s.add_argument("--bare-json", type=Path)
    s.add_argument("--max-ned", type=float, default=0.2)
    s.add_argument("--json", type=Path)
    m = sub.add_parser("summary")
    m.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "wait":
        return wait(args.out, args.keys, args.timeout)
    if args.cmd == "summary":
        results = [json.loads(f.read_text()) for f in args.files]
        print(table(results))
        return 1 if any(r["problems"] for r in results) else 0
    bare = json.loads(args.bare_json.read_text()) if args.bare_json and args.bare_json.is_file() else None
    result = score(args.samples, args.out, args.version, bare, args.max_ned)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(table([result]))
    print(json.dumps(result, ensure_ascii=False))
    for problem in result["problems"]:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
