"""Soak harness: embedded conformance runs under CPU load and interrupts, each counted for leftovers."""
