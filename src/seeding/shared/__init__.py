"""The shared tier behind each isolate: pages in Workers KV, revalidation times and
regeneration leases in D1. Every part is optional."""
