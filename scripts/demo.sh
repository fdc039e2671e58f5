#!/usr/bin/env bash
# A scripted tour of a running dev cluster (`make demo` brings one up first).
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL=${SHOAL:-.venv/bin/shoal}
IMAGE=shoal/busybox:latest

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ shoal %s\n' "$*"; "$SHOAL" "$@"; }

step "The nodes: one per test host (network namespace + dockerd + agent)"
show node ls

step "spread (the default): six equal containers land two per host"
for i in 1 2 3 4 5 6; do "$SHOAL" run -d --name "spread-$i" -m 32m $IMAGE sleep 3600 >/dev/null; done
show ps

step "binpack: the same request piles onto the fullest host"
for i in 1 2 3; do "$SHOAL" run -d --strategy binpack --name "pack-$i" -m 32m $IMAGE sleep 3600 >/dev/null; done
show ps --format json | grep -E '"(name|node)"' | paste - - | grep pack

step "A web server publishing port 8080, and its logs"
show run -d --name web -p 8080:80 -m 64m $IMAGE sh -c 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && echo serving && httpd -f -v -p 80 -h /www'
node=$("$SHOAL" ps --format json | .venv/bin/python -c 'import json,sys; print([c["node"] for c in json.load(sys.stdin) if c["name"]=="web"][0])')
echo "web runs on $node"
ip=$("$SHOAL" node inspect "$node" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["address"].split(":")[0])')
other=$("$SHOAL" node ls --format json | .venv/bin/python -c "import json,sys; print([n['name'] for n in json.load(sys.stdin) if n['name']!='$node'][0])")
echo "fetching http://$ip:8080/ from host $other:"
for _ in $(seq 50); do
  if nsenter --net="/run/netns/$other" .venv/bin/python -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip())' "http://$ip:8080/" 2>/dev/null; then break; fi
  sleep 0.2
done
show logs web

step "Constraints: label a node, then pin a container to it"
show node update --label-add zone=eu "${node}"
show run -d --name pinned --constraint node.labels.zone==eu $IMAGE sleep 3600
show ps

step "When nothing fits, Shoal says why"
"$SHOAL" run -d --constraint node.labels.zone==mars $IMAGE true || true

step "A service on an overlay network, found by name from another container"
show network create demo
show service create --name hello --replicas 3 --network demo --stop-grace-period 1s $IMAGE sh -c 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www'
for _ in $(seq 100); do
  [ "$("$SHOAL" service ls --format json | .venv/bin/python -c 'import json,sys; print([s["replicas"] for s in json.load(sys.stdin) if s["name"]=="hello"][0])')" = "3/3" ] && break
  sleep 0.2
done
show service ps hello
show run --network demo $IMAGE sh -c 'nslookup hello | tail -n +4; wget -qO- http://hello:8080/; wget -qO- http://hello:8080/'
"$SHOAL" service rm hello >/dev/null

step "Clean up the demo containers (the cluster stays up)"
"$SHOAL" rm -f $("$SHOAL" ps -a --format json | .venv/bin/python -c 'import json,sys; print(" ".join(c["id"] for c in json.load(sys.stdin) if not c["service"]))') >/dev/null
for _ in $(seq 100); do
  [ "$("$SHOAL" ps -a --format json)" = "[]" ] && break
  sleep 0.2
done
"$SHOAL" network rm demo >/dev/null
show ps -a

cat <<'MSG'

The dev cluster is still running. Try:
  shoal node ls
  shoal run -d --name web -p 8080:80 --memory 64m shoal/busybox:latest httpd -f -p 80
  shoal ps
  shoal logs -f web
Stop everything with:  make down   (or: shoal dev down)
MSG
