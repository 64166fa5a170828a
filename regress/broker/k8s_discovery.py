"""A stand-in for a Kubernetes API server's discovery, on loopback.

kubectl's client-side dry run (apply/create --dry-run=client) still asks
the server which resources exist, to map each kind to its resource; it
changes nothing.  This answers those questions for the kinds dist/k8s
uses, and 404 for anything else (so "apply" sees no object and would
create each one).  There is no schema here: validation against the
real OpenAPI needs a real server (--dry-run=server).

    python3 k8s_discovery.py PORTFILE

Listens on 127.0.0.1 on a free port, writes it to PORTFILE, and serves
until it is killed.
"""

import http.server
import json
import os
import sys


def resource(name, kind, namespaced):
    return {"name": name, "singularName": kind.lower(), "kind": kind,
            "namespaced": namespaced,
            "verbs": ["create", "get", "list", "patch", "update"]}


DOCS = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [
                 {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/api/v1": {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": "v1", "resources": [
                    resource("namespaces", "Namespace", False),
                    resource("configmaps", "ConfigMap", True),
                    resource("pods", "Pod", True),
                    resource("services", "Service", True)]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "apps",
         "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]},
    "/apis/apps/v1": {"kind": "APIResourceList", "apiVersion": "v1",
                      "groupVersion": "apps/v1", "resources": [
                          resource("daemonsets", "DaemonSet", True),
                          resource("deployments", "Deployment", True)]},
    "/version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0"},
}
NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
             "reason": "NotFound", "code": 404}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        doc = DOCS.get(self.path.split("?")[0])
        body = json.dumps(doc if doc is not None else NOT_FOUND).encode()
        self.send_response(200 if doc is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
