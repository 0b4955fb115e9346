"""rayStartParams.resources as KubeRay v1.5.0 reads it: quotes trimmed, Go's encoding/json into map[string]float64.

The table is what Go's decoder does with each value (checked with go1.26's encoding/json; the
`processes` test below runs Go itself where it is installed and compares every row).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gpuconf.model.resources_json import (
    ResourcesJsonError,
    intended_resources,
    kuberay_resources,
    ray_start_resources,
)

# (rayStartParams.resources, what KubeRay's getResourcesMap gets: a map, or None when it fails)
KUBERAY: list[tuple[str, dict[str, float] | None]] = [
    ("'{\"gpu_worker\": 1}'", {"gpu_worker": 1.0}),
    ('{"a": null}', {"a": 0.0}),
    ("null", {}),
    ('{"a": true}', None),
    ('{"a": 1e400}', None),
    ('{"a": "1"}', None),
    ("[1]", None),
    ('\'"{\\"a\\": 1}"\'', None),  # the often-quoted form: KubeRay cannot read it (KUBERAY-RESOURCES-JSON)
    ('{"a": 1.5, "a": 2}', {"a": 2.0}),
    ('{"a": {"b": 1}}', None),
    ('` {"a": 1} `', {"a": 1.0}),
    ('{"a": NaN}', None),
]


@pytest.mark.parametrize(("raw", "expected"), KUBERAY, ids=[r for r, _ in KUBERAY])
def test_kuberay_reads_it_as_go_does(raw: str, expected: dict[str, float] | None) -> None:
    """The map KubeRay gets, or a failure (it then logs and adds no --num-gpus)."""
    if expected is None:
        with pytest.raises(ResourcesJsonError):
            kuberay_resources(raw)
    else:
        assert kuberay_resources(raw) == expected


def test_ray_start_takes_what_bash_left_as_an_object() -> None:
    """`ray start` json.loads the value after bash: an object passes (amounts are raystart's to judge), else it aborts."""
    assert ray_start_resources('{"gpu_worker": "1"}') == {"gpu_worker": "1"}
    for bad in ("[1]", "{gpu_worker:", '"{}"'):
        with pytest.raises(ResourcesJsonError):
            ray_start_resources(bad)


def test_the_intended_object_survives_the_common_quotings() -> None:
    """What the user meant: single-quoted, YAML-escaped, the often-quoted form, bare; nothing for non-JSON."""
    for raw in ("'{\"a\": 1}'", '{\\"a\\": 1}', '\'"{\\"a\\": 1}"\'', '{"a": 1}'):
        assert intended_resources(raw) == {"a": 1}, raw
    assert intended_resources("a=1") is None


GO_PROGRAM = """package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

func main() {
	var inputs []string
	if err := json.NewDecoder(os.Stdin).Decode(&inputs); err != nil {
		panic(err)
	}
	for _, s := range inputs {
		var m map[string]float64
		if err := json.Unmarshal([]byte(strings.Trim(s, "'\\"` ")), &m); err != nil {
			fmt.Println("error")
			continue
		}
		if m == nil {
			m = map[string]float64{}
		}
		out, _ := json.Marshal(m)
		fmt.Println(string(out))
	}
}
"""


@pytest.mark.processes
def test_the_table_is_what_go_does(tmp_path: Path) -> None:
    """Run KubeRay's two steps (strings.Trim, json.Unmarshal into map[string]float64) in Go on every row."""
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        pytest.skip("go is not installed")
    (tmp_path / "main.go").write_text(GO_PROGRAM, encoding="utf-8")
    done = subprocess.run(
        [go, "run", "main.go"],
        cwd=tmp_path,
        input=json.dumps([raw for raw, _ in KUBERAY]),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    got = [None if line == "error" else json.loads(line) for line in done.stdout.splitlines()]
    assert got == [expected for _, expected in KUBERAY]
