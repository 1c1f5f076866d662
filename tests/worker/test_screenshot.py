"""scripts/screenshot.py: headless Chromium against the local runtime gives a real PNG."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.worker.conftest import ROOT, TARGET


@pytest.mark.skipif(TARGET != "local", reason="the script starts its own local runtime")
@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="chromium not installed (bash scripts/setup-chromium.sh)",
)
def test_screenshot_of_the_home_page(
    tmp_path: Path, built_site: None, runtime_installed: None
) -> None:
    out = tmp_path / "home.png"
    result = subprocess.run(
        [
            sys.executable,
            "scripts/screenshot.py",
            "--no-build",
            "--out",
            str(out),
            "--size",
            "800x600",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (800, 600)
    assert len(data) > 20_000  # a rendered page, not a blank image
