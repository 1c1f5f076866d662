"""The load-with-faults soak, by concern: the traffic (`mix`), the faults (`faults`), the
checking of every response (`oracle`), the verdict (`checks`), and the run (`run`,
`gate`). `python -m bench.soak --help`."""
