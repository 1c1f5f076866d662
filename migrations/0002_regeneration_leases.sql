-- Regeneration leases (seeding/shared/regen_lease.py): at most one isolate regenerates a key per
-- window. A row is taken over only once `expires_at` has passed, by one conditional upsert.
CREATE TABLE regeneration_leases (
    key TEXT PRIMARY KEY,       -- what is regenerated (a cache key)
    holder TEXT NOT NULL,       -- who holds the lease (an isolate's id)
    expires_at REAL NOT NULL    -- epoch seconds; after it anyone may take the lease
);
