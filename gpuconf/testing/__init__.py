"""pytest wiring: options, markers, the central skip, evidence and reports.

- :mod:`.plugin`    the plugin behind conftest.py: options, markers, the central skip, diagnostics
- :mod:`.settings`  the command-line options, resolved into gpuconf.live.settings.Settings
- :mod:`.fixtures`  the core fixtures: the check, the plan, the live cluster, Serve apps, observations
- :mod:`.evidence`  what a check saw, attached to its report
- :mod:`.report`    the report collector (a plugin of its own): conformance.json and summary.md
- :mod:`.subproc`   a child process with a real time bound and its output kept
- :mod:`.stages`    ``make test``'s stages and their time table
- :mod:`.cold`      ``make test-cold``: the cold path from a fresh clone
"""
