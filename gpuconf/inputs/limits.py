"""The documented limits of `gpuconf check` (docs/static-inputs.md): past each one the input is refused (exit 2).

They keep a hostile or mistaken file from taking the machine's memory or minutes of time.
"""

from __future__ import annotations

# A manifest file larger than this is refused before it is parsed.
MAX_FILE_BYTES = 4 * 1024 * 1024
# Nesting depth of a YAML document (mappings and sequences).
MAX_DEPTH = 64
# Values a document may hold once its aliases are expanded (a "billion laughs" bomb).
MAX_EXPANDED_NODES = 200_000
# Pods planned for one cluster (the sum of every group's replicas x numOfHosts).
MAX_PODS = 10_000
# Serve replicas planned for one deployment.
MAX_REPLICAS = 10_000
# YAML files read in one call.
MAX_FILES = 2_000
# The largest quantity accepted for a node's capacity or a container's resources (1 EiB; 2^60).
MAX_QUANTITY = 2**60
