"""Layouts the benchmarks compare the Worker's own against; none of them ships in src/."""
