#!/usr/bin/env python3
"""The project's two commands, on a machine with nothing but Python 3.11:

    python3 scripts/dev.py serve    # the API with demo data on embedded SQLite, at http://127.0.0.1:8000/graphql
    python3 scripts/dev.py test     # the whole test suite (extra arguments go to pytest)

Each first creates `.venv` and installs the project from `pyproject.toml`, pinned by `requirements.lock`;
it reinstalls only when either file changed.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".mci-installed"
INPUTS = [ROOT / "pyproject.toml", ROOT / "requirements.lock"]


def _fingerprint() -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in INPUTS)).hexdigest()


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (this script must explain itself to an older Python)
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        print("creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    print("installing the project and its pinned dependencies into .venv ...", file=sys.stderr)
    subprocess.run(
        [
            BIN / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            ROOT / "requirements.lock",
            "-e",
            f"{ROOT}[dev]",
        ],
        check=True,
    )
    STAMP.write_text(_fingerprint())


def main() -> int:
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command not in {"serve", "test", "setup"}:
        print(__doc__, file=sys.stderr)
        return 2
    ensure_environment()
    os.chdir(ROOT)
    if command == "serve":
        subprocess.run([BIN / "mci", "seed-demo"], check=True)
        return subprocess.call([BIN / "mci", "serve", *args])
    if command == "test":
        return subprocess.call([BIN / "python", "-m", "pytest", *args])
    return 0


if __name__ == "__main__":
    sys.exit(main())
