"""The containers of dist/k8s as podman runs them, for run.sh.

    python3 pod.py K8S_DIR WORK NODE

Reads the DaemonSet (daemonset.yaml), its ConfigMap (configmap.yaml)
and the client Deployment (client.yaml) and writes into WORK what
"podman run" needs to give each container what its manifest gives it:

- cm/VOLUME/PATH: the ConfigMap's keys as each configMap volume lays
  them out, with the volume's mode;
- node/PATH: the node's directories the hostPath volumes name, made
  for DirectoryOrCreate (the check's own, not the host's);
- NAME.args for each container (securerd, metrics, client): the options
  of "podman run" on one line, shell-quoted: user and groups,
  privileges, capabilities, seccomp, no_new_privs, the read-only root,
  the mounts, the environment (NODE for the Downward API's node name),
  the memory limit, the stop timeout and the command as entry point;
- NAME.cmd: the container's args, to follow the image's name;
- NAME.ready: "PORT PATH" of its readiness probe, if it has one.

A field this does not know how to give is an error, so that the check
never runs something other than what the manifests say.  What it leaves
out on purpose: scheduling (nodeSelector, requests, the update
strategy), ports (run.sh reaches the pod's address) and the service
account token (there is no API server).
"""

import json
import os
import re
import shlex
import sys
from typing import Any, Dict, List

import yaml

# Pod spec fields with no effect on a single node, or checked below.
POD_KNOWN = {"containers", "volumes", "securityContext", "nodeSelector",
             "hostPID", "hostNetwork", "hostIPC",
             "automountServiceAccountToken", "enableServiceLinks",
             "terminationGracePeriodSeconds"}
CONTAINER_KNOWN = {"name", "image", "imagePullPolicy", "command", "args",
                   "env", "securityContext", "resources", "volumeMounts",
                   "ports", "readinessProbe"}
SC_KNOWN = {"privileged", "runAsUser", "runAsGroup", "runAsNonRoot",
            "allowPrivilegeEscalation", "readOnlyRootFilesystem",
            "capabilities", "seccompProfile", "supplementalGroups"}


class Unsupported(Exception):
    """A manifest field the translation does not know."""


def unknown(where: str, d: Dict[str, Any], known: set) -> None:
    """Refuse fields outside known."""
    extra = sorted(set(d) - known)
    if extra:
        raise Unsupported("%s: no podman translation for %s"
                          % (where, ", ".join(extra)))


def quantity(q: str) -> str:
    """A Kubernetes memory quantity (Ki, Mi, Gi or bytes) for podman."""
    m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi)?", str(q))
    if not m:
        raise Unsupported("memory quantity %s" % q)
    return m.group(1) + {"Ki": "k", "Mi": "m", "Gi": "g", None: ""}[
        m.group(2)]


def security(where: str, pod_sc: Dict[str, Any],
             sc: Dict[str, Any]) -> List[str]:
    """Options for the pod's and the container's securityContext."""
    unknown(where + " pod securityContext", pod_sc, SC_KNOWN)
    unknown(where + " securityContext", sc, SC_KNOWN)
    merged = dict(pod_sc)
    merged.update(sc)
    opts = []
    if merged.get("privileged"):
        opts.append("--privileged")
    uid = merged.get("runAsUser")
    gid = merged.get("runAsGroup")
    if uid is not None:
        opts.append("--user=%d:%d" % (uid, gid if gid is not None else uid))
    if merged.get("runAsNonRoot") and uid in (None, 0):
        raise Unsupported("%s: runAsNonRoot without a non-root runAsUser"
                          % where)
    for g in pod_sc.get("supplementalGroups", []):
        opts.append("--group-add=%d" % g)
    if merged.get("allowPrivilegeEscalation") is False:
        opts.append("--security-opt=no-new-privileges")
    if merged.get("readOnlyRootFilesystem"):
        opts.append("--read-only")
    caps = merged.get("capabilities", {})
    unknown(where + " capabilities", caps, {"add", "drop"})
    for c in caps.get("drop", []):
        opts.append("--cap-drop=%s" % c.lower())
    for c in caps.get("add", []):
        opts.append("--cap-add=%s" % c.lower())
    prof = merged.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if prof == "Unconfined":
        opts.append("--security-opt=seccomp=unconfined")
    elif prof != "RuntimeDefault":
        raise Unsupported("%s: seccompProfile %s" % (where, prof))
    return opts


def volumes(spec: Dict[str, Any], cm: Dict[str, Any],
            work: str) -> Dict[str, Dict[str, Any]]:
    """Lays out each volume under work; name to its directory and kind."""
    out = {}
    for v in spec.get("volumes", []):
        name = v["name"]
        if "configMap" in v:
            cmv = v["configMap"]
            if cmv["name"] != cm["metadata"]["name"]:
                raise Unsupported("volume %s: ConfigMap %s"
                                  % (name, cmv["name"]))
            d = os.path.join(work, "cm", name)
            os.makedirs(d, exist_ok=True)
            items = cmv.get("items") or [{"key": k, "path": k}
                                         for k in cm["data"]]
            for it in items:
                path = os.path.join(d, it["path"])
                with open(path, "w") as f:
                    f.write(cm["data"][it["key"]])
                os.chmod(path, cmv.get("defaultMode", 0o644))
            out[name] = {"dir": d, "ro": True}
        elif "hostPath" in v:
            hp = v["hostPath"]
            d = os.path.join(work, "node", hp["path"].lstrip("/"))
            kind = hp.get("type", "")
            if kind == "DirectoryOrCreate":
                os.makedirs(d, mode=0o755, exist_ok=True)
            elif kind != "Directory":
                raise Unsupported("volume %s: hostPath type %s"
                                  % (name, kind))
            out[name] = {"dir": d, "ro": False}
        else:
            raise Unsupported("volume %s: only configMap and hostPath"
                              % name)
    return out


def container(where: str, spec: Dict[str, Any], c: Dict[str, Any],
              vols: Dict[str, Dict[str, Any]], node: str) -> List[str]:
    """The options of podman run for one container of a pod spec."""
    unknown(where, c, CONTAINER_KNOWN)
    opts = security(where, spec.get("securityContext", {}),
                    c.get("securityContext", {}))
    for m in c.get("volumeMounts", []):
        unknown(where + " volumeMount", m,
                {"name", "mountPath", "subPath", "readOnly"})
        v = vols[m["name"]]
        src = v["dir"]
        if m.get("subPath"):
            src = os.path.join(src, m["subPath"])
        ro = v["ro"] or m.get("readOnly", False)
        opts.append("--volume=%s:%s%s" % (src, m["mountPath"],
                                          ":ro" if ro else ""))
    for e in c.get("env", []):
        if "value" in e:
            opts.append("--env=%s=%s" % (e["name"], e["value"]))
        elif e.get("valueFrom", {}).get("fieldRef", {}).get(
                "fieldPath") == "spec.nodeName":
            opts.append("--env=%s=%s" % (e["name"], node))
        else:
            raise Unsupported("%s: env %s" % (where, e["name"]))
    res = c.get("resources", {})
    unknown(where + " resources", res, {"requests", "limits"})
    limits = res.get("limits", {})
    unknown(where + " limits", limits, {"memory", "cpu"})
    if "memory" in limits:
        opts.append("--memory=%s" % quantity(limits["memory"]))
    if "cpu" in limits:
        raise Unsupported("%s: cpu limit" % where)
    if "terminationGracePeriodSeconds" in spec:
        opts.append("--stop-timeout=%d"
                    % spec["terminationGracePeriodSeconds"])
    if "command" in c:
        opts.append("--entrypoint=%s" % json.dumps(c["command"]))
    return opts


def ready(c: Dict[str, Any]) -> str:
    """PORT PATH of the container's httpGet readiness probe."""
    probe = c["readinessProbe"]
    get = probe.get("httpGet")
    if get is None:
        raise Unsupported("%s: a readiness probe other than httpGet"
                          % c["name"])
    port = get["port"]
    for p in c.get("ports", []):
        if p.get("name") == port:
            port = p["containerPort"]
    return "%s %s" % (port, get["path"])


def pod(spec: Dict[str, Any], cm: Dict[str, Any], work: str, node: str,
        where: str) -> None:
    """Writes NAME.args, NAME.cmd and NAME.ready for each container."""
    unknown(where, spec, POD_KNOWN)
    for k in ("hostPID", "hostNetwork", "hostIPC"):
        if spec.get(k):
            raise Unsupported("%s: %s" % (where, k))
    vols = volumes(spec, cm, work)
    for c in spec["containers"]:
        opts = container("%s/%s" % (where, c["name"]), spec, c, vols, node)
        base = os.path.join(work, c["name"])
        with open(base + ".args", "w") as f:
            f.write(" ".join(shlex.quote(o) for o in opts) + "\n")
        with open(base + ".cmd", "w") as f:
            f.write(" ".join(shlex.quote(a) for a in c.get("args", []))
                    + "\n")
        if "readinessProbe" in c:
            with open(base + ".ready", "w") as f:
                f.write(ready(c) + "\n")


def main() -> int:
    """Translate the manifests of argv[1] into argv[2]."""
    k8s, node = sys.argv[1], sys.argv[3]
    work = os.path.abspath(sys.argv[2])  # podman binds absolute paths

    def load(name: str) -> Dict[str, Any]:
        with open(os.path.join(k8s, name)) as f:
            return yaml.safe_load(f)

    ds, cm, cl = (load("daemonset.yaml"), load("configmap.yaml"),
                  load("client.yaml"))
    try:
        pod(ds["spec"]["template"]["spec"], cm, work, node, "DaemonSet")
        pod(cl["spec"]["template"]["spec"], cm, work, node, "client")
    except Unsupported as e:
        print("pod.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
