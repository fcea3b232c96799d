#!/usr/bin/env python3
"""Writes deploy/k8s/base/<service>.yaml: every Kubernetes object of one anju service.

The seven services differ only in a few facts (their port, their health name, the secrets they
hold, the peers they call), so their manifests are generated from the table below instead of
being copied seven times by hand. The output is committed: it is what an operator reviews and
what `kubectl apply -k deploy/k8s/overlays/production` applies. `deploy/k8s/check.sh` runs this
script again and fails when the committed files differ from what it writes.

Per service: a ServiceAccount (no API token mounted), a Deployment of two replicas (non-root,
read-only root file system, every capability dropped, native gRPC probes on the service's
health name, requests and limits), a Service, a PodDisruptionBudget, a HorizontalPodAutoscaler,
a NetworkPolicy (in: its gRPC port from the namespace and the ingress controller, its metrics
port from the monitoring namespace; out: DNS, Postgres, NATS, the trace collector, and for the
coordinator the other services' ports) and the Job that migrates its database
(`anju migrate --target <service>`, with the one role allowed to create databases).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The services in the order of their gRPC ports (libs/kit/src/config.rs, SERVICES).
SERVICES = ["sales", "finance", "handover", "maintenance", "complaints", "title", "saga"]
BASE_PORT = 50051
METRICS_PORT = 9464
HEALTH = {
    "sales": "anju.sales.v1.SalesService",
    "finance": "anju.finance.v1.FinanceService",
    "handover": "anju.handover.v1.HandoverService",
    "maintenance": "anju.maintenance.v1.MaintenanceService",
    "complaints": "anju.complaints.v1.ComplaintsService",
    "title": "anju.title.v1.TitleService",
    "saga": "anju.saga.v1.SagaService",
}
# Identity numbers are sealed and compared by sales and handover only.
PII = {"sales", "handover"}
# Only the coordinator calls other services (its commands); the rest talk through NATS.
CALLS = {"saga": [s for s in SERVICES if s != "saga"]}
# Per-pod resources: requests sized from the benchmarks (a service at ~2,000 RPCs/s uses about
# one core with Postgres on other machines), limits leave room for bursts.
RESOURCES = {
    "requests": {"cpu": "250m", "memory": "128Mi"},
    "limits": {"cpu": "2", "memory": "512Mi"},
}


def port(service: str) -> int:
    return BASE_PORT + SERVICES.index(service)


def q(value: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def labels(service: str, indent: int) -> str:
    pad = " " * indent
    return (
        f"{pad}app.kubernetes.io/name: anju\n"
        f"{pad}app.kubernetes.io/component: {service}\n"
    )


def env_from_secret(name: str, secret: str, key: str) -> str:
    return (
        f"            - name: {name}\n"
        f"              valueFrom:\n"
        f"                secretKeyRef:\n"
        f"                  name: {secret}\n"
        f"                  key: {key}\n"
    )


def volumes(service: str) -> tuple[str, str]:
    """The coordinator's key pair as files: every service the public half, saga the private."""
    mounts = (
        "          volumeMounts:\n"
        "            - name: coordinator-public\n"
        "              mountPath: /etc/anju/coordinator-public\n"
        "              readOnly: true\n"
    )
    vols = (
        "      volumes:\n"
        "        - name: coordinator-public\n"
        "          secret:\n"
        "            secretName: anju-coordinator-public\n"
    )
    if service == "saga":
        mounts += (
            "            - name: coordinator-private\n"
            "              mountPath: /etc/anju/coordinator-private\n"
            "              readOnly: true\n"
        )
        vols += (
            "        - name: coordinator-private\n"
            "          secret:\n"
            "            secretName: anju-coordinator-private\n"
        )
    return mounts, vols


def security() -> str:
    return (
        "          securityContext:\n"
        "            allowPrivilegeEscalation: false\n"
        "            readOnlyRootFilesystem: true\n"
        "            runAsNonRoot: true\n"
        "            runAsUser: 65532\n"
        "            runAsGroup: 65532\n"
        "            capabilities:\n"
        "              drop: [ALL]\n"
    )


def pod_security() -> str:
    return (
        "      securityContext:\n"
        "        runAsNonRoot: true\n"
        "        runAsUser: 65532\n"
        "        runAsGroup: 65532\n"
        "        seccompProfile:\n"
        "          type: RuntimeDefault\n"
    )


def resources() -> str:
    out = "          resources:\n"
    for kind in ("requests", "limits"):
        out += f"            {kind}:\n"
        for key, value in RESOURCES[kind].items():
            out += f"              {key}: {q(value)}\n"
    return out


def service_env(service: str) -> str:
    env = "          env:\n"
    env += env_from_secret("DATABASE_URL", f"anju-{service}-database", "url")
    env += "            - name: ANJU_DATABASE_MIGRATE\n              value: verify\n"
    env += (
        "            - name: ANJU_AUTH_INTERNAL_PUBLIC_KEY_FILE\n"
        "              value: /etc/anju/coordinator-public/public.pem\n"
    )
    if service == "saga":
        env += (
            "            - name: ANJU_AUTH_INTERNAL_PRIVATE_KEY_FILE\n"
            "              value: /etc/anju/coordinator-private/private.pem\n"
        )
    if service in PII:
        env += env_from_secret("ANJU_PII_HMAC_KEY", "anju-pii", "hmac-key")
        env += env_from_secret("ANJU_PII_ENCRYPTION_KEYS", "anju-pii", "encryption-keys")
        env += env_from_secret("ANJU_PII_ACTIVE_KEY_ID", "anju-pii", "active-key-id")
    return env


def deployment(service: str) -> str:
    p = port(service)
    mounts, vols = volumes(service)
    probe = lambda name, extra: (  # noqa: E731
        f"          {name}:\n"
        f"            grpc:\n"
        f"              port: {p}\n"
        f"              service: {HEALTH[service]}\n"
        f"{extra}"
    )
    return (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: anju-{service}\n"
        "  labels:\n"
        f"{labels(service, 4)}"
        "spec:\n"
        "  replicas: 2\n"
        "  revisionHistoryLimit: 5\n"
        "  strategy:\n"
        "    type: RollingUpdate\n"
        "    rollingUpdate:\n"
        "      maxUnavailable: 0\n"
        "      maxSurge: 1\n"
        "  selector:\n"
        "    matchLabels:\n"
        f"{labels(service, 6)}"
        "  template:\n"
        "    metadata:\n"
        "      labels:\n"
        f"{labels(service, 8)}"
        "      annotations:\n"
        '        prometheus.io/scrape: "true"\n'
        f'        prometheus.io/port: "{METRICS_PORT}"\n'
        "    spec:\n"
        f"      serviceAccountName: anju-{service}\n"
        "      automountServiceAccountToken: false\n"
        "      enableServiceLinks: false\n"
        # A stopped pod drains its calls and relays (SIGTERM), well inside this.
        "      terminationGracePeriodSeconds: 30\n"
        f"{pod_security()}"
        "      topologySpreadConstraints:\n"
        "        - maxSkew: 1\n"
        "          topologyKey: kubernetes.io/hostname\n"
        "          whenUnsatisfiable: ScheduleAnyway\n"
        "          labelSelector:\n"
        "            matchLabels:\n"
        f"{labels(service, 14)}"
        "      containers:\n"
        "        - name: anju\n"
        "          image: anju\n"
        "          imagePullPolicy: IfNotPresent\n"
        f"          args: [serve, --target, {service}]\n"
        "          ports:\n"
        "            - name: grpc\n"
        f"              containerPort: {p}\n"
        "            - name: metrics\n"
        f"              containerPort: {METRICS_PORT}\n"
        "          envFrom:\n"
        "            - configMapRef:\n"
        "                name: anju-config\n"
        f"{service_env(service)}"
        # Startup: the first connection to Postgres and NATS (streams, consumers) may take a
        # while; readiness: this service's own health name; liveness: the process answers.
        + probe(
            "startupProbe",
            "            periodSeconds: 2\n            failureThreshold: 60\n",
        )
        + probe(
            "readinessProbe",
            "            periodSeconds: 5\n            failureThreshold: 2\n",
        )
        + probe(
            "livenessProbe",
            "            periodSeconds: 10\n            timeoutSeconds: 3\n            failureThreshold: 3\n",
        )
        + f"{resources()}"
        f"{security()}"
        f"{mounts}"
        f"{vols}"
    )


def service_object(service: str) -> str:
    return (
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata:\n"
        f"  name: anju-{service}\n"
        "  labels:\n"
        f"{labels(service, 4)}"
        "spec:\n"
        "  selector:\n"
        f"{labels(service, 4)}"
        "  ports:\n"
        "    - name: grpc\n"
        "      appProtocol: grpc\n"
        f"      port: {port(service)}\n"
        "      targetPort: grpc\n"
        "    - name: metrics\n"
        f"      port: {METRICS_PORT}\n"
        "      targetPort: metrics\n"
    )


def service_account(service: str) -> str:
    return (
        "apiVersion: v1\n"
        "kind: ServiceAccount\n"
        "metadata:\n"
        f"  name: anju-{service}\n"
        "  labels:\n"
        f"{labels(service, 4)}"
        "automountServiceAccountToken: false\n"
    )


def disruption_budget(service: str) -> str:
    return (
        "apiVersion: policy/v1\n"
        "kind: PodDisruptionBudget\n"
        "metadata:\n"
        f"  name: anju-{service}\n"
        "  labels:\n"
        f"{labels(service, 4)}"
        "spec:\n"
        "  minAvailable: 1\n"
        "  selector:\n"
        "    matchLabels:\n"
        f"{labels(service, 6)}"
    )


def autoscaler(service: str) -> str:
    return (
        "apiVersion: autoscaling/v2\n"
        "kind: HorizontalPodAutoscaler\n"
        "metadata:\n"
        f"  name: anju-{service}\n"
        "  labels:\n"
        f"{labels(service, 4)}"
        "spec:\n"
        "  scaleTargetRef:\n"
        "    apiVersion: apps/v1\n"
        "    kind: Deployment\n"
        f"    name: anju-{service}\n"
        "  minReplicas: 2\n"
        "  maxReplicas: 6\n"
        "  metrics:\n"
        "    - type: Resource\n"
        "      resource:\n"
        "        name: cpu\n"
        "        target:\n"
        "          type: Utilization\n"
        "          averageUtilization: 70\n"
        "  behavior:\n"
        "    scaleDown:\n"
        "      stabilizationWindowSeconds: 300\n"
    )


def egress_to(selector: str, ports: list[tuple[str, int]], namespace: str | None) -> str:
    out = "    - to:\n        - "
    if namespace is not None:
        out += (
            "namespaceSelector:\n"
            "            matchLabels:\n"
            f"              kubernetes.io/metadata.name: {namespace}\n"
            "          podSelector:\n"
            "            matchLabels:\n"
            f"{selector}"
        )
    else:
        out += "podSelector:\n            matchLabels:\n" + selector
    out += "      ports:\n"
    for protocol, number in ports:
        out += f"        - protocol: {protocol}\n          port: {number}\n"
    return out


def network_policy(service: str) -> str:
    out = (
        "apiVersion: networking.k8s.io/v1\n"
        "kind: NetworkPolicy\n"
        "metadata:\n"
        f"  name: anju-{service}\n"
        "  labels:\n"
        f"{labels(service, 4)}"
        "spec:\n"
        "  podSelector:\n"
        "    matchLabels:\n"
        f"{labels(service, 6)}"
        "  policyTypes: [Ingress, Egress]\n"
        "  ingress:\n"
        # Callers: the coordinator and clients in the namespace, and the ingress controller
        # (staff applications and partners come through it).
        "    - from:\n"
        "        - podSelector: {}\n"
        "        - namespaceSelector:\n"
        "            matchLabels:\n"
        "              kubernetes.io/metadata.name: ingress-nginx\n"
        "      ports:\n"
        f"        - protocol: TCP\n          port: {port(service)}\n"
        "    - from:\n"
        "        - namespaceSelector:\n"
        "            matchLabels:\n"
        "              kubernetes.io/metadata.name: monitoring\n"
        "      ports:\n"
        f"        - protocol: TCP\n          port: {METRICS_PORT}\n"
        "  egress:\n"
        "    - to:\n"
        "        - namespaceSelector:\n"
        "            matchLabels:\n"
        "              kubernetes.io/metadata.name: kube-system\n"
        "          podSelector:\n"
        "            matchLabels:\n"
        "              k8s-app: kube-dns\n"
        "      ports:\n"
        "        - protocol: UDP\n          port: 53\n"
        "        - protocol: TCP\n          port: 53\n"
    )
    # Postgres (CloudNativePG's pods of the cluster anju-db), NATS (the official chart's pods),
    # the OpenTelemetry collector.
    out += egress_to("              cnpg.io/cluster: anju-db\n", [("TCP", 5432)], "anju-data")
    out += egress_to("              app.kubernetes.io/name: nats\n", [("TCP", 4222)], "anju-data")
    out += egress_to(
        "              app.kubernetes.io/name: opentelemetry-collector\n",
        [("TCP", 4317)],
        "observability",
    )
    for peer in CALLS.get(service, []):
        out += egress_to(labels(peer, 14), [("TCP", port(peer))], None)
    return out


def migration_job(service: str) -> str:
    return (
        "apiVersion: batch/v1\n"
        "kind: Job\n"
        "metadata:\n"
        f"  name: anju-migrate-{service}\n"
        "  labels:\n"
        f"{labels(service, 4)}"
        "    app.kubernetes.io/part-of: anju-migrations\n"
        "spec:\n"
        "  backoffLimit: 6\n"
        "  ttlSecondsAfterFinished: 86400\n"
        "  template:\n"
        "    metadata:\n"
        "      labels:\n"
        f"{labels(service, 8)}"
        "        app.kubernetes.io/part-of: anju-migrations\n"
        "    spec:\n"
        "      restartPolicy: OnFailure\n"
        f"      serviceAccountName: anju-{service}\n"
        "      automountServiceAccountToken: false\n"
        "      enableServiceLinks: false\n"
        f"{pod_security()}"
        "      containers:\n"
        "        - name: migrate\n"
        "          image: anju\n"
        "          imagePullPolicy: IfNotPresent\n"
        f"          args: [migrate, --target, {service}]\n"
        "          envFrom:\n"
        "            - configMapRef:\n"
        "                name: anju-config\n"
        "          env:\n"
        # The migrating role may create the service's database and own its tables; the
        # service's own role (anju-<service>-database) may not create databases.
        + env_from_secret("DATABASE_URL", "anju-migrate-database", "url")
        + f"{resources()}"
        f"{security()}"
    )


def manifest(service: str) -> str:
    header = (
        f"# anju {service}: generated by deploy/k8s/generate.py from its table; edit that, not this.\n"
    )
    parts = [
        service_account(service),
        deployment(service),
        service_object(service),
        disruption_budget(service),
        autoscaler(service),
        network_policy(service),
        migration_job(service),
    ]
    return header + "---\n".join(parts)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "base"
    out.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        (out / f"{service}.yaml").write_text(manifest(service))
    return 0


if __name__ == "__main__":
    sys.exit(main())
