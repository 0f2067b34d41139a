"""A skipped deployed or engine test fails the run.

Those tests skip themselves when a tool is missing (root and iproute2 for the deployed daemon,
Tesseract for the CPU engine, paddleocr for the paddle engine): a test machine set up wrong
then passed without running them. Here a skip of such a test is turned into a failure, unless
its reason names an optional tool of ``ALLOWED_SKIPS`` (listed in README). To leave them out on
purpose, deselect them (``-m "not paddle"``, ``--deselect``, ``-k``): that is not a skip.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

# reason prefix -> the optional tool (README: "Optional tools for the tests")
ALLOWED_SKIPS: dict[str, str] = {
    "systemd-analyze not installed": "systemd (systemd-analyze verifies the unit file)",
}
MUST_RUN_FILES = ("test_deployed.py", "test_paddle_*.py", "test_cpu_*.py")
MUST_RUN_MARKERS = ("paddle", "must_run")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "must_run: a skip of this test fails the run (see tests/conftest.py)")
    config.addinivalue_line("markers", "dev_corpus: runs over the development corpus given with --dev-corpus")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--dev-corpus", default=None, help="the development corpus (a folder of cases with "
                     "input.pdf|png and meta.json): runs the dev_corpus tests, which are left out without it")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The dev_corpus tests need documents kept outside the repository: without --dev-corpus
    they are deselected (not skipped)."""
    if config.getoption("--dev-corpus"):
        return
    left_out = [item for item in items if item.get_closest_marker("dev_corpus")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("dev_corpus")]


def must_run(item: pytest.Item) -> bool:
    name = Path(str(item.fspath)).name
    return (any(fnmatch.fnmatch(name, pattern) for pattern in MUST_RUN_FILES)
            or any(item.get_closest_marker(marker) for marker in MUST_RUN_MARKERS))


def allowed(reason: str) -> bool:
    reason = reason.removeprefix("Skipped: ")
    return any(reason.startswith(prefix) for prefix in ALLOWED_SKIPS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not must_run(item):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if allowed(reason):
        return
    report.outcome = "failed"
    report.longrepr = (f"{item.nodeid} may not skip ({reason}): set the machine up for it "
                       "(scripts/bootstrap.sh test, as root for the deployed tests) or deselect it on purpose")
