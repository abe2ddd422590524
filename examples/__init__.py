"""Runnable workflows on real input, written against the public `sdk` only (DESIGN §1)."""
