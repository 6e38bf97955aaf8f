"""Benchmarks that print figures: engine and video speed (``speed``), live sessions (``live``), scenes.

May import any wing; nothing imports it except its own tests.
"""
