"""Micro-benchmarks (SPEC section 5): one module per benchmark, sharing ``harness``."""
