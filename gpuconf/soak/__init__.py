"""Soak harness: embedded conformance runs under CPU load and interrupts, each counted for leftovers.

- :mod:`.__main__`  ``python -m gpuconf.soak``: N runs, interrupted at random moments
- :mod:`.warden`    the init process of one run's PID namespace: run, interrupt, count what was left
"""
