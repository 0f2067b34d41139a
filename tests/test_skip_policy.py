"""tests/conftest.py: a skip of a deployed or engine test fails the run; other skips, and skips
for an allowed optional tool, stay skips; deselecting stays possible."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]
CONFTEST = Path(__file__).with_name("conftest.py")


def run(pytester, name: str, body: str, *args: str):  # type: ignore[no-untyped-def]
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(**{name: "import pytest\n" + body})
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def test_a_skipped_engine_test_fails_the_run(pytester) -> None:
    result = run(pytester, "test_cpu_engine_x", "def test_it():\n    pytest.skip('tesseract is not installed')\n")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*may not skip*tesseract is not installed*"])


def test_a_skipped_deployed_test_fails_the_run(pytester) -> None:
    body = "pytestmark = pytest.mark.skipif(True, reason='needs root')\ndef test_it():\n    pass\n"
    run(pytester, "test_deployed", body).assert_outcomes(errors=1)  # skipped at set-up: an error


def test_a_skipped_paddle_marked_test_fails_the_run(pytester) -> None:
    body = "@pytest.mark.paddle\ndef test_marked():\n    pytest.skip('paddleocr is not installed')\n"
    run(pytester, "test_reports", body).assert_outcomes(failed=1)


def test_other_skips_allowed_tools_and_deselection_stay_quiet(pytester) -> None:
    body = ("def test_plain():\n    pytest.skip('nothing to see')\n"
            "@pytest.mark.must_run\ndef test_tool():\n    pytest.skip('systemd-analyze not installed (apt-get install systemd)')\n"
            "@pytest.mark.paddle\ndef test_deselected():\n    pytest.skip('paddleocr is not installed')\n")
    run(pytester, "test_other", body, "-m", "not paddle").assert_outcomes(skipped=2, deselected=1)
