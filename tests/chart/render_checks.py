#!/usr/bin/env python3
"""Assertions on what the chart renders for one of tests/chart/values/*.yaml.

    helm template REL charts/vpcgate -n NS -f tests/chart/values/PROFILE.yaml |
        render_checks.py PROFILE REL NS

Prints nothing and exits 0 when every assertion holds; otherwise prints one line per failure and
exits 1. Only the standard library and PyYAML.
"""

import sys
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "vpcgate"

failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


def main(profile, release, namespace):
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    fullname = release if "vpcgate" in release else f"{release}-vpcgate"

    def one(kind):
        items = by_kind.get(kind, [])
        expect(len(items) == 1, f"expected one {kind}, found {len(items)}")
        return items[0] if items else {}

    def absent(kind):
        expect(kind not in by_kind, f"{kind} rendered but not enabled")

    # Every profile: the operator, its identity and RBAC, the metrics Service.
    dep = one("Deployment")
    sa = one("ServiceAccount")
    svc = one("Service")
    expect(len(by_kind.get("Role", [])) == 2 and len(by_kind.get("RoleBinding", [])) == 2,
           "expected two Roles and two RoleBindings (events in default, leases in the release namespace)")
    cluster_role = one("ClusterRole")
    node_rules = [r for r in cluster_role.get("rules", []) if "nodes" in r["resources"]]
    expect(node_rules == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}],
           f"the ClusterRole's nodes rule is {node_rules}, want get/list/watch only")
    one("ClusterRoleBinding")
    for d in docs:
        meta = d["metadata"]
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding") and not (
                d["kind"] in ("Role", "RoleBinding") and meta["name"].endswith("-events")):
            expect(meta.get("namespace") == namespace, f"{d['kind']}/{meta['name']} not in {namespace}")
        expect(meta["name"].startswith(fullname), f"{d['kind']}/{meta['name']} not named after {fullname}")
    expect(dep["metadata"]["name"] == fullname, f"Deployment name {dep['metadata']['name']} != {fullname}")
    expect(sa["metadata"]["name"] == fullname, f"ServiceAccount name {sa['metadata']['name']} != {fullname}")
    for b in by_kind.get("RoleBinding", []) + by_kind.get("ClusterRoleBinding", []):
        expect(b["subjects"] == [{"kind": "ServiceAccount", "name": fullname, "namespace": namespace}],
               f"{b['kind']}/{b['metadata']['name']} does not bind {namespace}/{fullname}")
    leases = [r for r in by_kind.get("Role", []) if r["rules"][0]["apiGroups"] == ["coordination.k8s.io"]]
    expect(len(leases) == 1 and leases[0]["metadata"]["namespace"] == namespace,
           "the leases Role is not in the release namespace")

    spec = dep["spec"]
    pod = spec["template"]["spec"]
    expect(pod["serviceAccountName"] == fullname, "the pod does not run as the chart's ServiceAccount")
    expect(spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items(),
           "the Deployment's selector does not match its pod labels")
    expect(svc["spec"]["selector"] == spec["selector"]["matchLabels"],
           "the metrics Service does not select the operator's pods")
    (c,) = pod["containers"]
    env = {e["name"]: e for e in c.get("env", [])}
    val = lambda name: env.get(name, {}).get("value")
    # No profile sets image.*: the default image is the repository at the chart's appVersion.
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    repository = yaml.safe_load((CHART / "values.yaml").read_text())["image"]["repository"]
    expect(c["image"] == f"{repository}:{app_version}",
           f"image {c['image']} is not {repository}:{app_version} (the chart's appVersion)")
    expect("args" not in c and "command" not in c, "args/command set: the image's ENTRYPOINT is /vpcgate run")
    expect(env.get("POD_NAME", {}).get("valueFrom") == {"fieldRef": {"fieldPath": "metadata.name"}},
           "POD_NAME does not come from metadata.name")
    expect(env.get("NODE_NAME", {}).get("valueFrom") == {"fieldRef": {"fieldPath": "spec.nodeName"}},
           "NODE_NAME does not come from spec.nodeName")
    names = [e["name"] for e in c.get("env", [])]
    expect(len(names) == len(set(names)), f"environment variables set twice: {names}")
    expect(val("VPCGATE_LEASE_NAMESPACE") == namespace, "VPCGATE_LEASE_NAMESPACE is not the release namespace")
    expect(val("VPCGATE_METRICS_ADDR") == "0.0.0.0:8080", "VPCGATE_METRICS_ADDR is not 0.0.0.0:8080")
    for name in ("VPCGATE_LOG_FORMAT", "VPCGATE_RESYNC", "VPCGATE_CONCURRENCY"):
        expect(val(name), f"{name} not set")
    (port,) = c["ports"]
    expect(port == {"name": "metrics", "containerPort": 8080, "protocol": "TCP"}, f"container port {port}")
    expect(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}, "liveness probe")
    expect(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}, "readiness probe")
    psc, csc = pod["securityContext"], c["securityContext"]
    for sc, where in ((psc, "pod"), (csc, "container")):
        expect(sc.get("runAsNonRoot") is True, f"{where} runAsNonRoot")
        expect(sc.get("runAsUser") == 65532 and sc.get("runAsGroup") == 65532, f"{where} runAsUser/Group 65532")
        expect(sc.get("seccompProfile") == {"type": "RuntimeDefault"}, f"{where} seccompProfile RuntimeDefault")
    expect(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    expect(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation")
    expect(csc.get("capabilities") == {"drop": ["ALL"]}, "capabilities drop ALL")
    expect(c["resources"].get("requests") and c["resources"].get("limits"), "resources")

    # IRSA (and Pod Identity, aws.podIdentity) never fall back to the node's instance role.
    irsa = profile == "irsa"
    expect(val("AWS_EC2_METADATA_DISABLED") == ("true" if irsa else None),
           f"AWS_EC2_METADATA_DISABLED {val('AWS_EC2_METADATA_DISABLED')}")

    ha = profile == "ha"
    expect(spec["replicas"] == (3 if ha else 1), f"replicas {spec['replicas']}")
    expect(spec["strategy"]["type"] == ("RollingUpdate" if ha else "Recreate"), f"strategy {spec['strategy']}")
    expect(val("VPCGATE_LEADER_ELECTION") == "true",
           f"VPCGATE_LEADER_ELECTION {val('VPCGATE_LEADER_ELECTION')}")
    if ha:
        pdb = one("PodDisruptionBudget")
        expect(pdb.get("spec", {}).get("minAvailable") == 1, "PodDisruptionBudget minAvailable 1")
        expect(pdb.get("spec", {}).get("selector", {}).get("matchLabels") == spec["selector"]["matchLabels"],
               "the PodDisruptionBudget does not select the operator's pods")
    else:
        absent("PodDisruptionBudget")

    if profile == "irsa":
        expect(sa["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn")
               == "arn:aws:iam::111122223333:role/vpcgate", "IRSA role-arn annotation")
        expect(val("AWS_REGION") == "eu-west-1", "AWS_REGION from aws.region")
    else:
        expect("annotations" not in sa["metadata"], "ServiceAccount annotations without IRSA")
        expect("AWS_REGION" not in env, "AWS_REGION set although aws.region is empty")

    if profile == "hardened-extras":
        np = one("NetworkPolicy")
        egress = np.get("spec", {}).get("egress", [])
        ports = {(p["port"], p.get("protocol")) for rule in egress for p in rule.get("ports", [])}
        expect({(53, "UDP"), (53, "TCP"), (443, "TCP"), (8443, "TCP"), (80, "TCP")} <= ports,
               f"NetworkPolicy egress ports {sorted(ports, key=str)}")
        expect(np.get("spec", {}).get("podSelector", {}).get("matchLabels") == spec["selector"]["matchLabels"],
               "the NetworkPolicy does not select the operator's pods")
        expect(pod.get("nodeSelector", {}).get("kubernetes.io/os") == "linux", "nodeSelector")
        expect(len(pod.get("tolerations", [])) == 2, "tolerations")
        expect("podAntiAffinity" in pod.get("affinity", {}), "affinity")
        expect(pod.get("priorityClassName") == "system-cluster-critical", "priorityClassName")
        expect(val("RUST_LOG") == "info,vpcgate=debug"
               and env.get("POD_IP", {}).get("valueFrom") == {"fieldRef": {"fieldPath": "status.podIP"}},
               "extraEnv")
        expect(val("VPCGATE_LOG_FORMAT") == "text" and val("VPCGATE_RESYNC") == "10m"
               and val("VPCGATE_CONCURRENCY") == "8", "logFormat/resync/concurrency")
        expect(val("VPCGATE_ALLOWED_VPCS") == "vpc-0123abcd,vpc-0123456789abcdef0",
               f"VPCGATE_ALLOWED_VPCS {val('VPCGATE_ALLOWED_VPCS')!r} is not aws.allowedVpcs joined by commas")
    else:
        absent("NetworkPolicy")
        expect("VPCGATE_ALLOWED_VPCS" not in env, "VPCGATE_ALLOWED_VPCS set although aws.allowedVpcs is empty")
        for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName"):
            expect(key not in pod, f"{key} set by default")

    if profile == "monitoring":
        sm = one("ServiceMonitor")
        sel = sm.get("spec", {}).get("selector", {}).get("matchLabels", {})
        expect(sel.items() <= svc["metadata"]["labels"].items(), "the ServiceMonitor does not select the Service")
        expect(sm.get("spec", {}).get("endpoints", [{}])[0].get("port") == "metrics", "ServiceMonitor port")
        expect(sm.get("metadata", {}).get("labels", {}).get("release") == "kube-prometheus-stack",
               "ServiceMonitor labels")
    else:
        absent("ServiceMonitor")

    for f in failures:
        print(f"{profile}: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
