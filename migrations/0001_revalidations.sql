-- On-demand revalidations (seeding/shared/tag_clock.py): one row per revalidated path or tag.
-- An entry generated at or before `stale_at` is stale; at or before `expired_at`, expired.
-- Both only grow (a later revalidation never moves them back). `seq` increases on every
-- write, across all rows, so an isolate reads only the rows changed since its last read.
CREATE TABLE revalidations (
    kind TEXT NOT NULL CHECK (kind IN ('path', 'tag')),  -- a path and a tag may share a name
    name TEXT NOT NULL,         -- route key ("/blog/a") or cache tag
    stale_at REAL NOT NULL,     -- epoch seconds of the latest revalidation in either mode
    expired_at REAL,            -- epoch seconds of the latest "expire" revalidation; NULL: none
    seq INTEGER NOT NULL,       -- change order; the newest write holds the largest
    PRIMARY KEY (kind, name)
);

CREATE INDEX revalidations_by_seq ON revalidations (seq);
