"""Development defaults that stick: `make run` writes a .env (DEBUG=1, a generated key) that
the settings read, so manage.py works from another terminal; production stays strict; a bad
DOCS= stops make with one line before anything is set up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLEAN = {
    k: v
    for k, v in os.environ.items()
    if k not in ("DEBUG", "SECRET_KEY", "HELPDESK_ENV_FILE", "DJANGO_SETTINGS_MODULE")
}


def _make(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(folder), "-f", str(ROOT / "Makefile"), *args],
        env=CLEAN, capture_output=True, text=True, timeout=60,
    )


def _check(env_file: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env={**CLEAN, "HELPDESK_ENV_FILE": str(env_file), **env},
        capture_output=True, text=True, timeout=120,
    )


def test_make_run_writes_a_dotenv_once_with_a_generated_key(tmp_path):
    assert _make(tmp_path, ".env").returncode == 0
    first = (tmp_path / ".env").read_text()
    assert "DEBUG=1\n" in first
    key = next(line for line in first.splitlines() if line.startswith("SECRET_KEY="))
    assert len(key) > 50
    assert _make(tmp_path, ".env").returncode == 0
    assert (tmp_path / ".env").read_text() == first  # never rewritten: the key stays


@pytest.mark.timeout(180)
def test_manage_py_reads_the_dotenv_and_production_stays_strict(tmp_path):
    assert _make(tmp_path, ".env").returncode == 0
    works = _check(tmp_path / ".env")
    assert works.returncode == 0, works.stderr
    strict = _check(tmp_path / "absent.env")  # no .env, no DEBUG: a key is required
    assert strict.returncode != 0 and "SECRET_KEY must be set" in strict.stderr
    overridden = _check(tmp_path / ".env", DEBUG="0")  # the environment wins over the file
    assert overridden.returncode == 0  # the file's key still applies
    assert "git-ignored" in (tmp_path / ".env").read_text()
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=ROOT, capture_output=True, timeout=30
    )
    assert ignored.returncode == 0


@pytest.mark.parametrize("docs", ["nope", "notes"])
def test_a_bad_docs_path_stops_make_run_with_one_line_before_any_setup(tmp_path, docs):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not Markdown")
    done = _make(tmp_path, "run", f"DOCS={docs}")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"DOCS={docs}: " in lines[0]
    assert ("no such file or folder" if docs == "nope" else "no Markdown") in lines[0]
    assert not (tmp_path / ".venv").exists() and not (tmp_path / ".env").exists()
