#!/usr/bin/env python3
"""Take a screenshot of a page of the example site, served by the local runtime, with
headless Chromium (Debian's `chromium`).

    python scripts/screenshot.py [--path /] [--out docs/screenshot.png] [--no-build]

Builds the site (unless --no-build), starts the local runtime on free loopback ports,
loads the page once (so it is seeded), then runs Chromium against it.
Exit codes: 0 done; 1 Chromium or the runtime failed (the message says which); 2 usage.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime.local_runtime import LocalRuntimeProcess, http_request  # noqa: E402

# Chromium in a closed network: no background connections, no sandbox (root in CI).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit(
        "screenshot: chromium not found (apt-get install chromium, "
        "or bash scripts/setup-chromium.sh)"
    )


def build_site() -> None:
    python = sys.executable
    for cmd in (
        [python, "scripts/prerender.py", "--out", "build"],
        [python, "scripts/copy_prerender.py", "build", "public"],
    ):
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def screenshot(url: str, out: Path, width: int, height: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            find_chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            url,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not out.is_file():
        raise SystemExit(
            f"screenshot: chromium failed ({result.returncode}):\n{result.stderr[-2000:]}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default="/", help="page to capture (default: /)")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "screenshot.png",
        help="PNG to write (default: docs/screenshot.png)",
    )
    parser.add_argument("--size", default="1280x900", help="window size WxH (default 1280x900)")
    parser.add_argument("--no-build", action="store_true", help="serve the existing build")
    args = parser.parse_args(argv)
    width, height = (int(n) for n in args.size.lower().split("x"))
    if not args.no_build:
        build_site()
    with tempfile.TemporaryDirectory() as logs:
        runtime = LocalRuntimeProcess(ROOT, Path(logs) / "runtime.log")
        runtime.start()
        try:
            page = http_request(runtime.url, "GET", args.path)
            if page.status >= 500:
                raise SystemExit(f"screenshot: {args.path} answered {page.status}")
            url = runtime.url.rstrip("/") + args.path
            screenshot(url, args.out.resolve(), width, height)
        finally:
            runtime.stop()
    print(f"screenshot: {args.out} ({args.path}, {width}x{height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
