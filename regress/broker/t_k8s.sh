#! /usr/bin/env atf-sh
# dist/k8s: the Kubernetes manifests parse and agree with each other and
# with securerd.conf (everywhere), securerd accepts their configuration,
# and kubectl's client-side dry run accepts every manifest (where
# kubectl is installed).  No cluster is used or needed.

init() {
	B=$(atf_config_get build)
	T=$(atf_config_get top)
	K=$T/dist/k8s
}

need_yaml() {
	command -v python3 >/dev/null || atf_skip "python3 is not installed"
	python3 -c 'import yaml' 2>/dev/null ||
	    atf_skip "python3 has no yaml module (Debian: python3-yaml)"
}

atf_test_case structure
structure_head() {
	atf_set "descr" "the manifests parse, and their names, selectors, " \
	    "volumes, socket path and group, and node name agree"
}
structure_body() {
	init
	need_yaml
	atf_check -o empty python3 "$T/regress/broker/k8s_check.py" "$K" conf
	atf_check -e match:'configuration OK' "$B/securerd" -n -f conf
	atf_check -o match:'^sandbox strict$' -o match:'^allow group "2000"' \
	    "$B/securerd" -nv -f conf
}

atf_test_case structure_refuses
structure_refuses_head() {
	atf_set "descr" "the structural check notices a client on another " \
	    "socket, a lost node name, and an unprivileged daemon"
}
structure_refuses_body() {
	init
	need_yaml
	mutate() {
		rm -rf k && cp -r "$K" k && sed -i "$1" "k/$2"
		atf_check -s exit:1 -o match:"$3" \
		    python3 "$T/regress/broker/k8s_check.py" k conf
	}
	mutate 's|value: /run/securer/securerd.sock|value: /run/x.sock|' \
	    client.yaml 'SECURER_SOCKET is not'
	mutate 's|fieldPath: spec.nodeName|fieldPath: metadata.name|' \
	    client.yaml 'NODE_NAME is not'
	mutate 's|privileged: true|privileged: false|' daemonset.yaml \
	    'not privileged'
	mutate 's|supplementalGroups: \[2000\]|supplementalGroups: [3000]|' \
	    client.yaml "not in the socket's group"
	mutate 's|path: /run/securer$|path: /run/other|' daemonset.yaml \
	    "is not the node's"
}

atf_test_case podman_args
podman_args_head() {
	atf_set "descr" "regress/container's pod.py turns every container of " \
	    "the manifests into podman options, and refuses a field it " \
	    "cannot give"
}
podman_args_body() {
	init
	need_yaml
	mkdir w
	atf_check python3 "$T/regress/container/pod.py" "$K" w node1
	atf_check -o match:'^--privileged --user=0:0 ' \
	    -o match:"--volume=$PWD/w/cm/config/securerd.conf:/etc/securer/securerd.conf:ro" \
	    -o match:"--volume=$PWD/w/node/run/securer:/run/securer " \
	    -o match:"--volume=$PWD/w/node/var/log/securer:/var/log/securer " \
	    cat w/securerd.args
	atf_check -o inline:'-d -f /etc/securer/securerd.conf\n' cat w/securerd.cmd
	atf_check -o match:'^--user=0:0 --security-opt=no-new-privileges --read-only --cap-drop=all ' \
	    cat w/metrics.args
	atf_check -o match:'^--user=1000:1000 --group-add=2000 ' \
	    -o match:'--read-only --cap-drop=all ' \
	    -o match:"--volume=$PWD/w/node/run/securer:/run/securer:ro " \
	    -o match:'--env=NODE_NAME=node1 ' cat w/client.args
	atf_check -o inline:'9464 /cgi-bin/metrics\n' cat w/metrics.ready
	test -x w/cm/metrics-cgi/metrics || atf_fail "the CGI is not executable"
	cp -r "$K" k
	sed -i 's|^      hostPID: false|      hostUsers: false\n&|' k/daemonset.yaml
	atf_check -s exit:1 -e match:'no podman translation for hostUsers' \
	    python3 "$T/regress/container/pod.py" k w node1
}

atf_test_case entrypoint
entrypoint_head() {
	atf_set "descr" "the image's entry point refuses a configuration " \
	    "that is a directory (a ConfigMap mounted without subPath)"
}
entrypoint_body() {
	init
	mkdir conf.d
	atf_check -s exit:1 -e match:'conf.d is not a file' \
	    sh "$K/entrypoint.sh" -d -f "$PWD/conf.d"
}

atf_test_case dry_run cleanup
dry_run_head() {
	atf_set "descr" "kubectl apply --dry-run=client accepts every " \
	    "manifest, and kubectl kustomize builds dist/k8s"
}
dry_run_body() {
	init
	command -v kubectl >/dev/null || atf_skip "kubectl is not installed"
	command -v python3 >/dev/null ||
	    atf_skip "python3 is not installed (the stand-in discovery)"
	# The client-side dry run still asks a server which resources
	# exist (discovery); a stand-in on loopback answers that, nothing
	# more, so the schema itself is not checked (that takes a real
	# server: --dry-run=server).
	python3 "$T/regress/broker/k8s_discovery.py" port &
	echo $! >server.pid
	i=0
	while [ ! -s port ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && atf_fail "the stand-in discovery did not start"
		sleep 0.05
	done
	cat >kubeconfig <<EOF
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "http://127.0.0.1:$(cat port)"}}]
contexts: [{name: none, context: {cluster: none, namespace: default}}]
current-context: none
users: [{name: none, user: {}}]
EOF
	export KUBECONFIG=$PWD/kubeconfig
	n=0
	for f in "$K"/*.yaml; do
		[ "$(basename "$f")" = kustomization.yaml ] && continue
		atf_check -o match:'created \(dry run\)' -o save:out \
		    kubectl apply --dry-run=client --validate=false \
		    --cache-dir="$PWD/cache" -f "$f"
		n=$((n + $(grep -c 'created (dry run)' out)))
	done
	[ "$n" -eq 4 ] || atf_fail "$n objects in the manifests, not 4"
	atf_check -o match:'^kind: DaemonSet$' -o match:'^kind: ConfigMap$' \
	    -o match:'^kind: Namespace$' kubectl kustomize "$K"
}
dry_run_cleanup() {
	[ -f server.pid ] && kill "$(cat server.pid)" 2>/dev/null
	true
}

atf_init_test_cases() {
	atf_add_test_case structure
	atf_add_test_case structure_refuses
	atf_add_test_case podman_args
	atf_add_test_case entrypoint
	atf_add_test_case dry_run
}
