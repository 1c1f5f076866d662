"""Small data structures and concurrency primitives with no I/O of their own: the
memory cache, single flight, the regenerator, back-off, the expiring map."""
