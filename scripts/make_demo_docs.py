"""Write a few sample documents (a born-digital Russian/English PDF, a scanned page) to a folder."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.docs import make_scan_png, make_structured_pdf  # noqa: E402 - generated, nothing shipped

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
make_structured_pdf(out / "structured.pdf")
make_scan_png(out / "scan.png")
print(f"sample documents written to {out}")
