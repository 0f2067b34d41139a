"""The hashed locks in requirements/ (scripts/lock.sh writes them) against an environment.

    python scripts/lockfile.py sync LOCK     uninstall what the environment has beyond LOCK
    python scripts/lockfile.py diff LOCK     print how the environment differs from LOCK (exit 1)
    python scripts/lockfile.py pins LOCK     print LOCK's pins as NAME==VERSION lines (constraints)
    cyclonedx-py requirements LOCK ... | python scripts/lockfile.py sbom > SBOM
                                             the SBOM without index addresses (scripts/lock.sh)

Used by scripts/bootstrap.sh, and by the tests that compare the venv with its lock.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# the venv's own installers, and docwatch itself (installed from the checkout, not the lock)
NOT_LOCKED = frozenset({"pip", "setuptools", "wheel", "docwatch"})
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: Path) -> dict[str, str]:
    """Canonical name -> version pinned in a lock file."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        m = _PIN.match(line)
        if m:
            pins[canonical(m.group(1))] = m.group(3)
    return pins


def installed() -> dict[str, str]:
    """Canonical name -> version of the distributions this interpreter sees (its venv)."""
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}


def differences(lock: Path) -> list[str]:
    want, have = locked(lock), installed()
    out = [f"missing: {n}=={v}" for n, v in sorted(want.items()) if n not in have]
    out += [
        f"other version: {n} {have[n]} (lock {v})"
        for n, v in sorted(want.items())
        if n in have and have[n] != v
    ]
    out += [
        f"not in the lock: {n}=={v}" for n, v in sorted(have.items()) if n not in want and n not in NOT_LOCKED
    ]
    return out


def sbom_without_index_urls(bom: dict) -> dict:
    """cyclonedx-py names the default index in each component's "implicit dist url" reference;
    the package URL (pkg:pypi/NAME@VERSION) already says where it comes from. The reference's
    hashes (the lock's) move to the component."""
    for comp in bom.get("components", []):
        kept = []
        for ref in comp.pop("externalReferences", []):
            if ref.get("comment") == "implicit dist url":
                comp.setdefault("hashes", []).extend(ref.get("hashes", []))
            else:
                kept.append(ref)
        if kept:
            comp["externalReferences"] = kept
    for tool in bom.get("metadata", {}).get("tools", {}).get("components", []):
        tool.pop("externalReferences", None)  # the generator's own links, registry pages among them
    return bom


def main(argv: list[str]) -> int:
    if argv == ["sbom"]:
        json.dump(sbom_without_index_urls(json.load(sys.stdin)), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if len(argv) != 2 or argv[0] not in ("sync", "diff", "pins"):
        print(__doc__, file=sys.stderr)
        return 2
    lock = Path(argv[1])
    if argv[0] == "pins":
        print("\n".join(f"{n}=={v}" for n, v in sorted(locked(lock).items())))
        return 0
    if argv[0] == "diff":
        diff = differences(lock)
        print("\n".join(diff) or f"the environment is {lock}")
        return 1 if diff else 0
    extra = sorted(n for n in installed() if n not in locked(lock) and n not in NOT_LOCKED)
    if extra:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *extra], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
