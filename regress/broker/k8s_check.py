"""Structural checks of dist/k8s that need no cluster and no kubectl.

    python3 k8s_check.py DIR CONF_OUT

Parses every manifest, checks what a wrong edit would break (names,
selectors, volumes, the socket path and group shared by securerd.conf,
the DaemonSet and the client, the Downward API node name), and writes
the ConfigMap's securerd.conf to CONF_OUT for "securerd -n".  Prints
each problem and exits 1 if there was any.
"""

import os
import re
import sys

import yaml

problems = []


def bad(msg):
    problems.append(msg)


def load(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for d in docs:
        for k in ("apiVersion", "kind", "metadata"):
            if k not in d:
                bad("%s: a document without %s" % (path, k))
    return docs


def pod_checks(name, spec, labels, selector):
    """Checks shared by the DaemonSet's and the client's pod templates."""
    for k, v in selector.items():
        if labels.get(k) != v:
            bad("%s: selector %s=%s not in the template's labels"
                % (name, k, v))
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec.get("containers", []):
        if not c.get("image"):
            bad("%s/%s: no image" % (name, c.get("name")))
        if "requests" not in c.get("resources", {}):
            bad("%s/%s: no resource requests" % (name, c.get("name")))
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                bad("%s/%s: mounts unknown volume %s"
                    % (name, c["name"], m["name"]))
    for key in ("hostPID", "hostNetwork", "hostIPC"):
        if spec.get(key):
            bad("%s: %s is on" % (name, key))
    return volumes


def host_path_of(volumes, mounts, path):
    """The hostPath behind the mount at path."""
    for m in mounts:
        if m["mountPath"] == path:
            hp = volumes[m["name"]].get("hostPath")
            return hp["path"] if hp else None
    return None


def main():
    top, conf_out = sys.argv[1], sys.argv[2]
    objs = {}
    for f in sorted(os.listdir(top)):
        if f.endswith(".yaml") and f != "kustomization.yaml":
            for d in load(os.path.join(top, f)):
                objs[(d["kind"], d["metadata"]["name"])] = d
    with open(os.path.join(top, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    for r in kust["resources"]:
        if not os.path.isfile(os.path.join(top, r)):
            bad("kustomization: no %s" % r)
    for (kind, name), d in objs.items():
        if kind != "Namespace" and \
                d["metadata"].get("namespace") != "securer":
            bad("%s %s: not in namespace securer" % (kind, name))

    cm = objs[("ConfigMap", "securerd")]
    conf = cm["data"]["securerd.conf"]
    with open(conf_out, "w") as f:
        f.write(conf)
    m = re.search(r'^socket "([^"]+)".*group "?([0-9]+)"?', conf, re.M)
    if not m:
        bad("securerd.conf: no socket with a group")
        return
    sock, group = m.group(1), m.group(2)
    ctl = re.search(r'^control "([^"]+)"', conf, re.M).group(1)
    sockdir = os.path.dirname(sock)

    ds = objs[("DaemonSet", "securerd")]
    spec = ds["spec"]["template"]["spec"]
    vols = pod_checks("DaemonSet", spec,
                      ds["spec"]["template"]["metadata"]["labels"],
                      ds["spec"]["selector"]["matchLabels"])
    cs = {c["name"]: c for c in spec["containers"]}
    d = cs["securerd"]
    if not d.get("securityContext", {}).get("privileged"):
        bad("DaemonSet: securerd is not privileged")
    if host_path_of(vols, d["volumeMounts"], sockdir) != sockdir:
        bad("DaemonSet: %s is not the node's %s" % (sockdir, sockdir))
    if os.path.dirname(ctl) != sockdir:
        bad("DaemonSet: the control socket is not beside the socket")
    if "-f" not in d.get("args", []):
        bad("DaemonSet: securerd without -f")
    conf_path = d["args"][d["args"].index("-f") + 1]
    if not any(m["mountPath"] == conf_path for m in d["volumeMounts"]):
        bad("DaemonSet: %s is not mounted" % conf_path)
    for v in vols.values():
        cmv = v.get("configMap")
        if cmv:
            if cmv["name"] != "securerd":
                bad("DaemonSet: volume %s from another ConfigMap" % v)
            for it in cmv.get("items", []):
                if it["key"] not in cm["data"]:
                    bad("DaemonSet: no key %s in the ConfigMap" % it["key"])
    probes = [c for c in spec["containers"] if "readinessProbe" in c]
    if not probes:
        bad("DaemonSet: no readiness probe")
    ann = ds["spec"]["template"]["metadata"].get("annotations", {})
    ports = [str(p["containerPort"]) for c in spec["containers"]
             for p in c.get("ports", [])]
    if ann.get("prometheus.io/port") not in ports:
        bad("DaemonSet: the scrape port is no container's")

    cl = objs[("Deployment", "securer-client-example")]
    cspec = cl["spec"]["template"]["spec"]
    cvols = pod_checks("client", cspec,
                       cl["spec"]["template"]["metadata"]["labels"],
                       cl["spec"]["selector"]["matchLabels"])
    if cspec.get("nodeSelector") != spec.get("nodeSelector"):
        bad("client: not on the daemon's nodes")
    if int(group) not in cspec["securityContext"].get("supplementalGroups",
                                                      []):
        bad("client: not in the socket's group %s" % group)
    c = cspec["containers"][0]
    env = {e["name"]: e for e in c.get("env", [])}
    if env.get("SECURER_SOCKET", {}).get("value") != sock:
        bad("client: SECURER_SOCKET is not %s" % sock)
    ref = env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {})
    if ref.get("fieldPath") != "spec.nodeName":
        bad("client: NODE_NAME is not the Downward API's spec.nodeName")
    if host_path_of(cvols, c["volumeMounts"], sockdir) != sockdir:
        bad("client: %s is not the node's %s" % (sockdir, sockdir))


main()
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
