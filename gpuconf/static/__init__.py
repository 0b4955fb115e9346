"""The static tier: rules over the plan, the check, its rendering and the regression cases.

- :mod:`.catalogue`    the rule registry: Finding, Rule, the severities, ``@rule`` and ``run_rules``
- :mod:`.rules`        the rules, and the one module that imports every rule module (read the catalogue there)
- :mod:`.coverage`     SERVE-APP-UNSEEN: apps whose deployments are defined in code
- :mod:`.gangs`        rules for the batch and gang schedulers
- :mod:`.gpuroads`     rules for shared GPUs and DRA claims
- :mod:`.check`        ``gpuconf check``: from paths to a verdict
- :mod:`.suppress`     suppressions applied to a check's findings
- :mod:`.render`       the check's text output
- :mod:`.sarif`        ``--format sarif``
- :mod:`.junit`        ``--format junit``
- :mod:`.fixes`        ``--fix``: each finding's fix applied to the manifests
- :mod:`.changed`      ``--changed``: from a commit's files to the folders to check
- :mod:`.regressions`  the known-bad manifests and the rule each must trip
- :mod:`.modeldoc`     docs/model.md, written by code
"""
