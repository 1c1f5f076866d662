"""The build-time library: render a site's prerenderable routes into a build directory
(`prerender`), and turn a build into the Worker's private assets and build identity
(`copy`). The command lines (`scripts/prerender.py`, `scripts/copy_prerender.py`, the
`seeding-prerender` and `seeding-copy` console scripts) are thin wrappers over `cli`.

Nothing here is imported by the Worker at run time; it shares the run time's contract
(`seeding.routes`, `seeding.schema`, `seeding.seed.packs`, `seeding.seed.membership`,
`seeding.seed.build_identity`), so the two cannot drift.
"""
