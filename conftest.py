"""Wiring only: the gpuconf pytest plugin and the core fixtures live in gpuconf.testing."""

pytest_plugins = ["gpuconf.testing.plugin", "gpuconf.testing.fixtures", "suites.scaling.fixtures", "pytester"]
