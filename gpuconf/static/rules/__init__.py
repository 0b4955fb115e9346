"""The rule catalogue: checks over the plan and the expectations, each with a stable id.

Every finding names the manifest line to change, what was seen, and the fix. The registry is
:mod:`gpuconf.static.catalogue`; this package imports every rule module, so read the whole
catalogue (and run it) from here. Its modules, by subject:

- :mod:`.common`      the helpers more than one rule (and ``--fix``) use
- :mod:`.raystart`    SHELL-SPLIT, KUBERAY-RESOURCES-JSON, RAY-START
- :mod:`.pods`        POD-UNSCHEDULABLE
- :mod:`.groups`      HEAD-GPU, GPU-GROUP-NO-GPU, GPU-LEAK-ENV, GPU-GROUP-SELECTOR, GPU-MARKER-LEAK
- :mod:`.replicas`    RESOURCE-UNADVERTISED, REPLICA-MEMORY, SERVE-UNPLACEABLE, SERVE-AUTOSCALING-MAX
- :mod:`.placement`   GPU-PLACEMENT, GPU-REQUEST, GPU-CAPACITY, REPLICA-CAPACITY, ISOLATION-ZERO-GPU
- :mod:`.pool`        NODEPOOL-NO-GPU, EXPECT-MISSING
- :mod:`.autoscaler`  AUTOSCALER-MISMATCH
- :mod:`.expansion`   SHELL-EXPANSION
- :mod:`.gangs`       GANG-UNPLACEABLE, GANG-QUEUE (batch and gang schedulers)
- :mod:`.gpuroads`    SHARED-GPU, SHARED-GPU-REQUEST, AUTOSCALER-DRA-GPUS (shared GPUs, DRA claims)
- :mod:`.apps`        SERVE-APP-UNSEEN (apps whose deployments are defined in code)
"""

from __future__ import annotations

from gpuconf.static.catalogue import CATALOGUE as CATALOGUE
from gpuconf.static.catalogue import ERROR as ERROR
from gpuconf.static.catalogue import UNCHECKED as UNCHECKED
from gpuconf.static.catalogue import UNCHECKED_VERDICT as UNCHECKED_VERDICT
from gpuconf.static.catalogue import WARNING as WARNING
from gpuconf.static.catalogue import Finding as Finding
from gpuconf.static.catalogue import run_rules as run_rules

# A rule joins the catalogue when its module is imported, so the order of these imports is the
# order of the catalogue (of `gpuconf catalogue`, docs/rules.md, and findings on one line).
# isort: off
import gpuconf.static.rules.raystart
import gpuconf.static.rules.pods
import gpuconf.static.rules.groups
import gpuconf.static.rules.replicas
import gpuconf.static.rules.placement
import gpuconf.static.rules.pool
import gpuconf.static.rules.autoscaler
import gpuconf.static.rules.expansion
import gpuconf.static.rules.gangs
import gpuconf.static.rules.gpuroads
import gpuconf.static.rules.apps  # noqa: F401
# isort: on

from gpuconf.static.rules.apps import CHECK_WITH as CHECK_WITH
