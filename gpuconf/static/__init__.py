"""The static tier: rules over the plan, the check, its rendering and the regression cases.

- :mod:`.catalogue`    the rule registry: Finding, Rule, the severities, ``@rule`` and ``run_rules``
- :mod:`.rules`        the rules, a module per subject and their shared helpers; the package imports
                       every rule module (read the catalogue there)
- :mod:`.check`        ``gpuconf check``: from paths to a verdict
- :mod:`.suppress`     suppressions applied to a check's findings
- :mod:`.render`       the check's text output
- :mod:`.sarif`        ``--format sarif``
- :mod:`.junit`        ``--format junit``
- :mod:`.fixes`        ``--fix``: each finding's fix applied to the manifests
- :mod:`.yamledit`     the YAML editor ``--fix`` writes through (comments and layout kept)
- :mod:`.changed`      ``--changed``: from a commit's files to the folders to check
- :mod:`.regressions`  the known-bad manifests and the rule each must trip
- :mod:`.modeldoc`     docs/model.md, written by code
"""
