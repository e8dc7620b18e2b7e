"""Benchmarks: real processes on loopback, figures printed and written to bench-results/."""
