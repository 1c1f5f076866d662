"""The routes a prerender build recorded as failed, for `scripts/dev.sh
--allow-failed-routes`: a build whose routes failed (`seeding-prerender` exits 1) is
still written whole, its failed routes left out of the packs, so the Worker renders them
at run time. dev.sh serves such a build only when asked, and names each failed route
with the reason the build recorded.

    python -m runtime.failed_routes build      # one "  /path: reason" line per route

Exit code 0 (routes listed, possibly none); 1 when the build's manifest cannot be read.
"""

from __future__ import annotations

import sys
from pathlib import Path

from seeding.build.manifest import MANIFEST_FILE, parse_manifest
from seeding.schema import RouteStatus, SchemaError


def failed_routes(build_dir: Path) -> list[tuple[str, str]]:
    """(route, reason) of each route the build at `build_dir` recorded as an error."""
    path = build_dir / MANIFEST_FILE
    manifest = parse_manifest(path.read_bytes(), str(path))
    return [
        (path, record.reason)
        for path, record in sorted(manifest.routes.items())
        if record.status is RouteStatus.ERROR
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m runtime.failed_routes BUILD_DIR", file=sys.stderr)
        return 2
    try:
        routes = failed_routes(Path(args[0]))
    except (SchemaError, OSError) as exc:
        print(f"failed_routes: {exc}", file=sys.stderr)
        return 1
    for path, reason in routes:
        print(f"  {path}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
