"""scripts/dev.sh --allow-failed-routes: the routes a build recorded as failed are named
with their reasons (runtime.failed_routes), and the flag is documented in --help."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from runtime.failed_routes import failed_routes, main
from seeding.asgi import AsgiSite
from seeding.build.prerender import ExitCode, write_build

ROOT = Path(__file__).resolve().parents[2]


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/needs-env" and "env" not in scope:
        raise RuntimeError("this page needs the Worker's env")
    status = 404 if scope["path"] == "/missing" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"page"})


async def test_the_failed_routes_of_a_build_are_named_with_their_reasons(
    tmp_path: Path, capsys
) -> None:
    site = AsgiSite(app, prerender=["/", "/missing", "/needs-env"])
    code = await write_build(site, tmp_path / "build", say=lambda line: None)
    assert code == ExitCode.ROUTE_FAILED
    routes = failed_routes(tmp_path / "build")
    assert [path for path, _ in routes] == ["/missing", "/needs-env"]
    assert "404" in routes[0][1] and "needs the Worker's env" in routes[1][1]
    capsys.readouterr()
    assert main([str(tmp_path / "build")]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("  /missing: ")


def test_a_build_that_cannot_be_read_is_an_error(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path)]) == 1
    assert "manifest.json" in capsys.readouterr().err


def test_dev_sh_help_documents_the_flag() -> None:
    result = subprocess.run(
        ["bash", "scripts/dev.sh", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "--allow-failed-routes" in result.stdout and "run time" in result.stdout
