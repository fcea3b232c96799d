#!/usr/bin/env python3
"""The policy every rendered anju overlay must meet, beyond the Kubernetes schemas.

    policy.py RENDERED.yaml MIN_REPLICAS

Every pod (Deployments and Jobs) runs as a non-root user with no privilege escalation, a
read-only root file system, every capability dropped and the runtime's seccomp profile, and
has CPU and memory requests and limits. Every Deployment has at least MIN_REPLICAS replicas,
native gRPC startup, readiness and liveness probes on its container's gRPC port (readiness on
the service's own health name), and a Service, PodDisruptionBudget, HorizontalPodAutoscaler and
NetworkPolicy that select its pods; its image is pinned (a tag other than `latest`, or a
digest); every service has a migration Job. Prints each breach and exits 1 if there is any.
"""

from __future__ import annotations

import sys

import yaml

SERVICES = ["sales", "finance", "handover", "maintenance", "complaints", "title", "saga"]


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_problems(where: str, pod: dict) -> list[str]:
    problems = []
    ctx = pod.get("securityContext") or {}
    if ctx.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
    if (ctx.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: the service account token is mounted")
    for c in pod.get("containers", []):
        name = f"{where} container {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: the root file system is writable")
        if sc.get("runAsNonRoot") is not True or (sc.get("runAsUser") or 0) == 0:
            problems.append(f"{name}: may run as root")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{name}: capabilities are not all dropped")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for key in ("cpu", "memory"):
                if key not in (res.get(kind) or {}):
                    problems.append(f"{name}: no {kind}.{key}")
        image = c.get("image", "")
        pinned = "@sha256:" in image or (
            ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
        )
        if not pinned:
            problems.append(f"{name}: image {image!r} is not pinned to a tag or digest")
    return problems


def check(docs: list[dict], min_replicas: int) -> list[str]:
    problems = []
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deployments = by_kind.get("Deployment", [])
    jobs = by_kind.get("Job", [])
    for dep in deployments:
        name = dep["metadata"]["name"]
        where = f"Deployment {name}"
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        problems += pod_problems(where, pod)
        if (spec.get("replicas") or 0) < min_replicas:
            problems.append(f"{where}: {spec.get('replicas')} replicas, fewer than {min_replicas}")
        for c in pod.get("containers", []):
            grpc_ports = [p["containerPort"] for p in c.get("ports", []) if p.get("name") == "grpc"]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                grpc = (c.get(probe) or {}).get("grpc")
                if not grpc:
                    problems.append(f"{where}: no gRPC {probe}")
                elif grpc.get("port") not in grpc_ports:
                    problems.append(f"{where}: {probe} is not on the gRPC port")
            ready = ((c.get("readinessProbe") or {}).get("grpc") or {}).get("service", "")
            if not ready.startswith("anju."):
                problems.append(f"{where}: readiness is not asked of the service's health name")
        for kind, path in [
            ("Service", lambda o: o["spec"].get("selector")),
            ("PodDisruptionBudget", lambda o: o["spec"]["selector"].get("matchLabels")),
            ("NetworkPolicy", lambda o: o["spec"]["podSelector"].get("matchLabels")),
        ]:
            if not any(selects(path(o) or {}, labels) for o in by_kind.get(kind, [])):
                problems.append(f"{where}: no {kind} selects its pods")
        if not any(
            h["spec"]["scaleTargetRef"]["name"] == name
            and h["spec"].get("minReplicas", 1) >= min_replicas
            for h in by_kind.get("HorizontalPodAutoscaler", [])
        ):
            problems.append(f"{where}: no HorizontalPodAutoscaler keeps {min_replicas}+ replicas")
        for np in by_kind.get("NetworkPolicy", []):
            if selects(np["spec"]["podSelector"].get("matchLabels") or {}, labels):
                if set(np["spec"].get("policyTypes", [])) != {"Ingress", "Egress"}:
                    problems.append(f"{where}: its NetworkPolicy does not limit both directions")
    for job in jobs:
        problems += pod_problems(f"Job {job['metadata']['name']}", job["spec"]["template"]["spec"])
    components = {d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") for d in deployments}
    migrated = {j["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") for j in jobs}
    for service in SERVICES:
        if service not in components:
            problems.append(f"service {service}: no Deployment")
        if service not in migrated:
            problems.append(f"service {service}: no migration Job")
    return problems


def main() -> int:
    path, min_replicas = sys.argv[1], int(sys.argv[2])
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems = check(docs, min_replicas)
    for p in problems:
        print(f"policy: {path}: {p}")
    print(f"policy: {path}: {len(docs)} objects, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
