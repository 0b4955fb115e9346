"""Dynamic Resource Allocation (resource.k8s.io/v1): the devices a node publishes, and what a pod's claims take.

Modelled after the kube-scheduler's DynamicResources plugin and its structured allocator
(k8s.io/dynamic-resource-allocation/structured, Kubernetes 1.34):

- a ResourceSlice publishes devices for one node (`nodeName`), a set of nodes
  (`nodeSelector`) or every node (`allNodes`), or per device (`perDeviceNodeSelection`);
- a DeviceClass selects devices with CEL; a request (`exactly`) adds its own selectors and
  asks for `count` devices (allocationMode ExactCount, the default) or every matching device
  of the node (`All`, which fails if any of them is taken); `firstAvailable` lists
  sub-requests tried in order (a prioritized list: the first one that fits wins);
- a DeviceClass with `spec.extendedResourceName` (KEP-5004) serves a plain extended-resource
  request (`nvidia.com/gpu: 1` in the limits) from DRA devices on nodes whose allocatable does
  not have that resource (no device plugin there).

The CEL read here is the subset DRA drivers ship in their DeviceClasses and the docs'
examples use: `&&`-joined comparisons of `device.driver`, `device.attributes['domain'].name`
and `device.capacity['domain'].name.compareTo(quantity('...'))`. An expression outside it
makes the match unknown, which the scheduler model treats as a match and says so.

KubeRay adds no `--num-gpus` for a claim (the container has no GPU limit): Ray autodetects the
devices the driver hands the container (CDI), which the plan counts from the allocation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gpuconf.inputs.loader import LDict, get
from gpuconf.inputs.quantity import parse_quantity
from gpuconf.model.selectors import requirement_matches

# Drivers whose devices Ray counts as GPU (NVIDIA's k8s-dra-driver-gpu, AMD's and Intel's GPU DRA drivers).
GPU_DRIVERS = ("gpu.nvidia.com", "gpu.amd.com", "gpu.intel.com")
# The message kube-scheduler's DynamicResources plugin gives a node where a claim cannot be allocated.
CANNOT_ALLOCATE = "cannot allocate all claims"


@dataclass(frozen=True)
class DraDevice:
    """One device of a ResourceSlice."""

    driver: str
    pool: str
    name: str
    attributes: tuple[tuple[str, Any], ...]
    capacity: tuple[tuple[str, Decimal], ...]

    @property
    def key(self) -> str:
        """driver/pool/device: unique in the cluster."""
        return f"{self.driver}/{self.pool}/{self.name}"

    def attribute(self, qualified: str) -> Any:
        """An attribute by `domain/name` (unqualified names in a slice belong to the driver's domain)."""
        return dict(self.attributes).get(qualified)

    @property
    def is_gpu(self) -> bool:
        """A device Ray counts as GPU: from a GPU driver, and for NVIDIA's a whole GPU or a MIG slice."""
        kind = self.attribute(f"{self.driver}/type")
        return self.driver in GPU_DRIVERS and kind in (None, "gpu", "mig")

    @property
    def product(self) -> str | None:
        """The device's NVML-style product name (NVIDIA's driver publishes `productName`)."""
        value = self.attribute(f"{self.driver}/productName")
        return str(value) if value else None


def _value(raw: Any) -> Any:
    """A DeviceAttribute ({string|int|bool|version: v}) as a plain value."""
    if isinstance(raw, dict):
        for k in ("string", "int", "bool", "version"):
            if k in raw:
                return raw[k]
    return raw


def _device(driver: str, pool: str, raw: dict[str, Any]) -> DraDevice:
    attrs = []
    for name, value in (raw.get("attributes") or {}).items():
        qualified = str(name) if "/" in str(name) else f"{driver}/{name}"
        attrs.append((qualified, _value(value)))
    caps = []
    for name, value in (raw.get("capacity") or {}).items():
        qualified = str(name) if "/" in str(name) else f"{driver}/{name}"
        amount = value.get("value") if isinstance(value, dict) else value
        caps.append((qualified, parse_quantity(amount)))
    return DraDevice(driver, pool, str(raw.get("name")), tuple(attrs), tuple(caps))


def _selects(selector: Any, name: str, labels: dict[str, str]) -> bool:
    """A NodeSelector (nodeSelectorTerms, ORed; expressions ANDed) against a node."""
    terms = (selector or {}).get("nodeSelectorTerms") or []
    return any(
        all(requirement_matches(e, name, labels) for e in t.get("matchExpressions") or [])
        and all(requirement_matches(dict(e, field=True), name, labels) for e in t.get("matchFields") or [])
        for t in terms
    )


def _on_node(spec: dict[str, Any], name: str, labels: dict[str, str]) -> bool:
    if spec.get("nodeName") is not None:
        return str(spec["nodeName"]) == name
    if spec.get("allNodes"):
        return True
    if spec.get("nodeSelector") is not None:
        return _selects(spec["nodeSelector"], name, labels)
    return False


def devices_for_node(slices: list[LDict], name: str, labels: dict[str, str]) -> list[DraDevice]:
    """Every device the ResourceSlices make available on this node."""
    out = []
    for s in slices:
        spec = s.get("spec") or {}
        driver, pool = str(spec.get("driver")), str(get(spec, "pool", "name", default=""))
        per_device = bool(spec.get("perDeviceNodeSelection"))
        if not per_device and not _on_node(spec, name, labels):
            continue
        for raw in spec.get("devices") or []:
            if per_device and not _on_node(raw, name, labels):
                continue
            out.append(_device(driver, pool, raw))
    return out


# --- the CEL subset -----------------------------------------------------------------------

_STR = r"""(?:'([^']*)'|"([^"]*)")"""
_DRIVER = re.compile(rf"^device\.driver\s*==\s*{_STR}$")
_ATTR = re.compile(rf"^device\.attributes\[{_STR}\]\.(\w+)\s*(==|!=)\s*(.+)$")
_CAP = re.compile(rf"^device\.capacity\[{_STR}\]\.(\w+)\.compareTo\(quantity\({_STR}\)\)\s*(>=|>|<=|<|==)\s*(-?\d+)$")


def _literal(text: str) -> Any:
    text = text.strip()
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        return None


def cel_matches(expression: str, device: DraDevice) -> bool | None:
    """The expression on a device: True/False, or None when it is outside the subset read here."""
    result: bool | None = True
    text = expression.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    for term in (t.strip() for t in text.split("&&")):
        m = _DRIVER.match(term)
        if m:
            ok: bool | None = device.driver == (m.group(1) if m.group(1) is not None else m.group(2))
        elif (m := _ATTR.match(term)) is not None:
            domain = m.group(1) if m.group(1) is not None else m.group(2)
            want = _literal(m.group(5))
            have = device.attribute(f"{domain}/{m.group(3)}")
            ok = None if want is None else ((have == want) == (m.group(4) == "=="))
        elif (m := _CAP.match(term)) is not None:
            domain = m.group(1) if m.group(1) is not None else m.group(2)
            have_q = dict(device.capacity).get(f"{domain}/{m.group(3)}")
            want_q = parse_quantity(m.group(4) if m.group(4) is not None else m.group(5))
            if have_q is None:
                ok = False
            else:
                cmp = (have_q > want_q) - (have_q < want_q)
                ok = _compare(cmp, m.group(6), int(m.group(7)))
        else:
            ok = None
        if ok is False:
            return False
        if ok is None:
            result = None
    return result


def _compare(cmp: int, op: str, rhs: int) -> bool:
    return {">=": cmp >= rhs, ">": cmp > rhs, "<=": cmp <= rhs, "<": cmp < rhs, "==": cmp == rhs}[op]


def selectors_match(selectors: list[Any], device: DraDevice) -> bool | None:
    """Every CEL selector on the device (None: some could not be read)."""
    result: bool | None = True
    for s in selectors or []:
        expr = get(s, "cel", "expression")
        ok = cel_matches(str(expr), device) if expr is not None else None
        if ok is False:
            return False
        if ok is None:
            result = None
    return result


# --- claims -------------------------------------------------------------------------------


@dataclass
class SubRequest:
    """One way to satisfy a request: a class, its selectors, and ExactCount `count` or All."""

    name: str
    device_class: str
    selectors: list[Any]
    mode: str = "ExactCount"
    count: int = 1


@dataclass
class ClaimRequest:
    """A request of a claim: one SubRequest (`exactly`) or a prioritized list (`firstAvailable`)."""

    claim: str
    name: str
    alternatives: list[SubRequest]

    @property
    def prioritized(self) -> bool:
        """firstAvailable: which alternative is used is decided at allocation."""
        return len(self.alternatives) > 1


@dataclass
class PodClaims:
    """What a pod of a group asks of DRA: claim requests and extended resources a DeviceClass may serve."""

    requests: list[ClaimRequest] = field(default_factory=list)
    # Claims the model cannot read (a shared ResourceClaim, a template not among the inputs).
    unread: list[str] = field(default_factory=list)
    # The Ray container's claims (names); None: it lists none.
    container_claims: list[str] | None = None
    classes: dict[str, LDict] = field(default_factory=dict)
    # The ResourceClaimTemplates the pod names, as given: a live tier applies them beside the RayCluster.
    templates: list[LDict] = field(default_factory=list)

    @property
    def gpu_claims(self) -> list[ClaimRequest]:
        """Requests whose device class selects GPUs."""
        return [r for r in self.requests if any(_class_is_gpu(self.classes, a.device_class) for a in r.alternatives)]


def _class_is_gpu(classes: dict[str, LDict], name: str) -> bool:
    cls = classes.get(name)
    if cls is None:
        return name in GPU_DRIVERS or name.startswith("gpu.") or name.startswith("mig.")
    text = " ".join(
        str(get(s, "cel", "expression", default="")) for s in get(cls, "spec", "selectors", default=[]) or []
    )
    return any(d in text for d in GPU_DRIVERS)


def _sub(name: str, raw: dict[str, Any]) -> SubRequest:
    mode = str(raw.get("allocationMode") or "ExactCount")
    return SubRequest(
        name,
        str(raw.get("deviceClassName")),
        list(raw.get("selectors") or []),
        mode,
        int(raw.get("count") or 1) if mode == "ExactCount" else 0,
    )


def pod_claims(template: LDict, claim_templates: list[LDict], device_classes: list[LDict]) -> PodClaims:
    """The DRA requests of a pod template, resolved against the ResourceClaimTemplates given."""
    spec = template.get("spec") or {}
    classes = {str(get(c, "metadata", "name")): c for c in device_classes}
    out = PodClaims(classes=classes)
    by_name = {str(get(t, "metadata", "name")): t for t in claim_templates}
    container = (spec.get("containers") or [{}])[0]
    claims = get(container, "resources", "claims")
    if claims is not None:
        out.container_claims = [str(c.get("name")) for c in claims if isinstance(c, dict)]
    for pc in spec.get("resourceClaims") or []:
        name = str(pc.get("name"))
        template_name = pc.get("resourceClaimTemplateName")
        tmpl = by_name.get(str(template_name)) if template_name else None
        if tmpl is None:
            out.unread.append(name)
            continue
        out.templates.append(tmpl)
        for raw in get(tmpl, "spec", "spec", "devices", "requests", default=[]) or []:
            rname = str(raw.get("name"))
            if raw.get("exactly") is not None:
                alts = [_sub(rname, raw["exactly"])]
            else:
                alts = [_sub(str(s.get("name")), s) for s in raw.get("firstAvailable") or []]
            out.requests.append(ClaimRequest(name, rname, alts))
    return out


def named_templates(claims: list[PodClaims | None]) -> list[LDict]:
    """The ResourceClaimTemplates these pods name, each once (by name), in order."""
    by_name: dict[str, LDict] = {}
    for c in claims:
        for t in c.templates if c else []:
            by_name.setdefault(str(get(t, "metadata", "name")), t)
    return list(by_name.values())


def extended_resource_classes(device_classes: list[LDict]) -> dict[str, LDict]:
    """DeviceClasses by the extended resource they serve: spec.extendedResourceName, and the implicit
    `deviceclass.resource.kubernetes.io/<class>` every class serves (KEP-5004)."""
    out: dict[str, LDict] = {}
    for c in device_classes:
        name = str(get(c, "metadata", "name"))
        out[f"deviceclass.resource.kubernetes.io/{name}"] = c
        ext = get(c, "spec", "extendedResourceName")
        if ext:
            out[str(ext)] = c
    return out


@dataclass
class Allocation:
    """The devices a pod gets on a node, and how each request was decided."""

    devices: list[DraDevice]
    notes: list[str]
    unknown: list[str] = field(default_factory=list)
    # The devices by claim name; "" for those serving an extended resource of the container's limits.
    by_claim: dict[str, list[DraDevice]] = field(default_factory=dict)

    def for_container(self, claims: list[str] | None) -> list[DraDevice]:
        """The devices the Ray container sees: its extended-resource devices and the claims it lists."""
        return [d for c, ds in self.by_claim.items() if c == "" or c in (claims or []) for d in ds]


def _candidates(
    sub: SubRequest, classes: dict[str, LDict], devices: list[DraDevice], taken: set[str]
) -> tuple[list[DraDevice], list[DraDevice], bool]:
    """(free matching devices, all matching devices, whether some match could not be judged)."""
    cls = classes.get(sub.device_class)
    free, every, unknown = [], [], False
    for d in devices:
        ok_cls = selectors_match(get(cls, "spec", "selectors", default=[]) or [], d) if cls is not None else False
        ok_req = selectors_match(sub.selectors, d)
        if ok_cls is False or ok_req is False:
            continue
        unknown = unknown or ok_cls is None or ok_req is None
        every.append(d)
        if d.key not in taken:
            free.append(d)
    return free, every, unknown


def allocate(
    claims: PodClaims | None,
    ext_requests: dict[str, Decimal],
    devices: list[DraDevice],
    taken: set[str],
    ext_classes: dict[str, LDict],
) -> Allocation | None:
    """What the allocator gives the pod on a node with these devices (None: it cannot allocate all claims).

    `ext_requests` are extended resources the node's allocatable lacks, to be served by the
    DeviceClass that names them.
    """
    used = set(taken)
    got: list[DraDevice] = []
    notes: list[str] = []
    unknown: list[str] = []
    by_claim: dict[str, list[DraDevice]] = {}
    classes = dict(claims.classes) if claims else {}
    for res, amount in sorted(ext_requests.items()):
        cls = ext_classes.get(res)
        if cls is None:
            return None
        cname = str(get(cls, "metadata", "name"))
        classes.setdefault(cname, cls)
        free, _, unk = _candidates(SubRequest(res, cname, []), classes, devices, used)
        need = int(amount)
        if len(free) < need:
            return None
        got.extend(free[:need])
        by_claim.setdefault("", []).extend(free[:need])
        used.update(d.key for d in free[:need])
        notes.append(f"{res}: {need} device(s) of DeviceClass {cname} (its extendedResourceName) through DRA")
        if unk:
            unknown.append(cname)
    for req in claims.requests if claims else []:
        for i, sub in enumerate(req.alternatives):
            free, every, unk = _candidates(sub, classes, devices, used)
            if sub.mode == "All":
                ok = bool(every) and len(free) == len(every)
                picked = free if ok else []
            else:
                ok = len(free) >= sub.count
                picked = free[: sub.count]
            if ok:
                got.extend(picked)
                by_claim.setdefault(req.claim, []).extend(picked)
                used.update(d.key for d in picked)
                how = f"{len(picked)} device(s) of {sub.device_class}"
                if sub.mode == "All":
                    how += " (allocationMode All: every matching device of the node, decided at allocation)"
                if req.prioritized:
                    how += f" (firstAvailable: alternative {i + 1} of {len(req.alternatives)}, decided at allocation)"
                notes.append(f"claim {req.claim}/{req.name}: {how}")
                if unk:
                    unknown.append(sub.device_class)
                break
        else:
            return None
    return Allocation(got, notes, unknown, by_claim)
