"""Benchmarks of Reuse Advisor against its budgets and peers (see bench/README.md)."""
