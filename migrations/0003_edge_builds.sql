-- The build whose pages the edge (Workers Cache) holds (seeding/edge/deploys.py): one row.
-- The first isolate of a new build swaps `build_id` and purges the `previous` build's tag at
-- the edge (NULL: no build recorded yet, so it purges everything); on failure it puts the
-- row back, so the next isolate tries again.
CREATE TABLE edge_builds (
    name TEXT PRIMARY KEY,      -- always 'current'
    build_id TEXT NOT NULL,     -- the build the edge holds pages of
    previous TEXT,              -- the build before it; NULL: none recorded
    switched_at REAL NOT NULL   -- epoch seconds of the swap
);
