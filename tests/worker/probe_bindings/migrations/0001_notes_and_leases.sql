-- Notes: rows one isolate writes and another reads.
CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);

-- Leases: one holder per key until it expires (the conditional upsert in src/entry.py).
CREATE TABLE leases (k TEXT PRIMARY KEY, holder TEXT NOT NULL, until_ms INTEGER NOT NULL);
