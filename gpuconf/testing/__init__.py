"""pytest wiring: options, markers, the central skip, evidence and reports."""
