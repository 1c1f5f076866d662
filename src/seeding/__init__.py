"""Lazy, per-route seeding of an isolate-global memory cache from prerendered assets.

Runtime-agnostic: nothing here imports `js` or `workers`, so CPython tests it with a
fake asset fetcher. `entry.py` wires it to the Workers runtime.
"""
