"""The `mci` command as a user runs it, in a fresh folder with no MCI_* settings: nothing set up beforehand."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mci(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")} | {"PYTHONPATH": str(ROOT)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    run.folder = tmp_path  # type: ignore[attr-defined]
    return run


def test_seed_demo_creates_the_embedded_database_from_nothing(mci):
    seeded = mci("seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert (mci.folder / "var" / "mci.db").exists()
    assert "already up to date" in mci("seed-demo").stdout


def test_import_of_a_broken_file_names_the_path_and_changes_nothing(mci):
    broken = mci.folder / "broken.json"
    broken.write_text(json.dumps({"partners": [], "engagements": [{"key": "x", "payType": "SOMETIMES"}]}))
    result = mci("import", str(broken))
    assert result.returncode == 1
    assert "engagements[0].payType" in result.stderr
    assert "nothing imported" in result.stderr


def test_token_prints_only_the_token(mci):
    result = mci("token", "--email", "admin@contoso-partners.example")
    assert result.returncode == 0
    assert result.stdout.count(".") == 2 and len(result.stdout.split()) == 1


def test_help_lists_every_command(mci):
    result = mci("--help")
    for command in ("serve", "db", "import", "seed-demo", "token", "export-schema", "expire"):
        assert command in result.stdout
