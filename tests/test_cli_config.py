"""Configuration mistakes end in exit 2 and one JSON ``startup.failed`` line, not a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon_harness import REPO


def docwatch(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "watcher", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
    )


def one_failure(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert [x["event"] for x in lines] == ["startup.failed"], r.stdout
    return lines[0]


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"DOCWATCH_LOG_LEVEL": "verbose"}, "DOCWATCH_LOG_LEVEL"),
        ({"DOCWATCH_CONCURRENCY": "lots"}, "DOCWATCH_CONCURRENCY"),
        ({"DOCWATCH_CPU__OCR_DPI": "x"}, "DOCWATCH_CPU__OCR_DPI"),
    ],
)
def test_a_bad_value_names_the_setting(tmp_path: Path, env: dict[str, str], name: str) -> None:
    line = one_failure(docwatch("config", cwd=tmp_path, env=env))
    assert line["setting"] == name and line["error"] and line["expected"]


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    line = one_failure(docwatch("config", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path))
    assert line["setting"] == "DOCWATCH_CONFIG" and "nope.toml" in line["error"]


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("log_level = [\n")
    line = one_failure(docwatch("--config", str(tmp_path / "c.toml"), "config", cwd=tmp_path))
    assert line["setting"] == "DOCWATCH_CONFIG"


def test_lists_take_commas_and_config_goes_after_the_command(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('poll_interval = 3.5\n')
    r = docwatch("config", "--json", "--config", str(tmp_path / "c.toml"), cwd=tmp_path,
                 env={"DOCWATCH_INCLUDE": "*.pdf, *.png", "DOCWATCH_EXCLUDE": '["a*"]',
                      "DOCWATCH_S3__SECRET_ACCESS_KEY": "hush"})
    assert r.returncode == 0, r.stderr
    assert "hush" not in r.stdout
    got = json.loads(r.stdout)
    assert got["include"] == {"value": ["*.pdf", "*.png"], "source": "env"}
    assert got["exclude"]["value"] == ["a*"]
    assert got["poll_interval"] == {"value": 3.5, "source": "config file"}
    assert got["log_level"] == {"value": "info", "source": "default"}
    assert got["s3"]["value"]["secret_access_key"] == "**********"


def test_a_misspelt_name_is_warned_about(tmp_path: Path) -> None:
    r = docwatch("config", "--json", cwd=tmp_path, env={"DOCWATCH_CONCURENCY": "3", "DOCWATCH_CPU__OCR_DIP": "9"})
    assert r.returncode == 0, r.stderr
    warnings = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    hints = {w["name"]: w["closest"] for w in warnings if w["event"] == "settings.unknown_name"}
    assert hints == {"DOCWATCH_CONCURENCY": "DOCWATCH_CONCURRENCY", "DOCWATCH_CPU__OCR_DIP": "DOCWATCH_CPU__OCR_DPI"}


def test_paddle_markdown_ignore_labels_take_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    from watcher.settings import Settings

    monkeypatch.setenv("DOCWATCH_PADDLE__MARKDOWN_IGNORE_LABELS", "header, footer")
    assert Settings().paddle.markdown_ignore_labels == ["header", "footer"]
    monkeypatch.setenv("DOCWATCH_PADDLE__MARKDOWN_IGNORE_LABELS", '["number"]')
    assert Settings().paddle.markdown_ignore_labels == ["number"]
