"""Resilience for downstream calls: retries with a budget, circuit breakers, hedging, bulkheads, stale fallbacks.

Each piece is small, synchronous where it can be, and takes its clock and randomness as arguments so that
tests drive it without sleeping.
"""
