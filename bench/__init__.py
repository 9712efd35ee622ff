"""Benchmarks, run on demand with `make bench` (`python -m bench`); they print figures."""
