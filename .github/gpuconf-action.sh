#!/usr/bin/env bash
# The run steps of action.yml (tests/test_ci_integrations.py runs them locally):
#   install   pip install the action's own folder: gpuconf's lean core
#   check     gpuconf check $GPUCONF_PATHS $GPUCONF_ARGS --output sarif=$GPUCONF_SARIF; records
#             exit-code and sarif-written in $GITHUB_OUTPUT and always exits 0, so the SARIF
#             upload step runs before the verdict
#   verdict   exits with the check's code (4, unchecked, passes unless GPUCONF_FAIL_ON_UNCHECKED=true)
set -euo pipefail
step=${1:?usage: gpuconf-action.sh install|check|verdict}
action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
case "$step" in
  install)
    python -m pip install --disable-pip-version-check --quiet "$action_path"
    gpuconf --help >/dev/null
    ;;
  check)
    read -r -a paths <<<"${GPUCONF_PATHS:-manifests}"
    read -r -a args <<<"${GPUCONF_ARGS:-}"
    sarif=${GPUCONF_SARIF:-gpuconf.sarif}
    rm -f "$sarif"
    set +e
    gpuconf check "${paths[@]}" "${args[@]}" --output "sarif=$sarif"
    rc=$?
    set -e
    echo "exit-code=$rc" >>"${GITHUB_OUTPUT:-/dev/null}"
    if [ -s "$sarif" ]; then echo "sarif-written=true" >>"${GITHUB_OUTPUT:-/dev/null}"; fi
    echo "gpuconf check exited $rc (0 pass, 1 fail, 2 bad input, 4 unchecked)"
    ;;
  verdict)
    rc=${GPUCONF_EXIT:?the check step recorded no exit code}
    if [ "$rc" = 4 ] && [ "${GPUCONF_FAIL_ON_UNCHECKED:-false}" != true ]; then
      echo "unchecked (exit 4): nothing wrong found, but some apps were not seen; see the log"
      exit 0
    fi
    exit "$rc"
    ;;
  *)
    echo "unknown step: $step (install, check or verdict)" >&2
    exit 2
    ;;
esac
