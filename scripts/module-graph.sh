#!/usr/bin/env bash
# Prints the module graph that the CMake link lists declare and fails when the
# dependency line of ARCHITECTURE.md ("Dependencies point one way: `...`") does
# not state it. The graph is written by src/CMakeLists.txt at configure time to
# <build>/module-graph.txt; `make unit-test` and ctest (module_graph) run this.
#
# The line lists layers, lowest first: `core ← {net, auth} ← mqtt/broker ← ...`.
# A module's layer is one above the highest layer among what it links (core,
# linking nothing of ours, is layer 0), so every dependency points left and the
# line is fixed by the graph; the order inside braces is free.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
graph=$build/module-graph.txt
if [[ ! -f $graph ]]; then
  echo "module-graph: $graph is missing: configure first (cmake -S $root -B $build)" >&2
  exit 2
fi
exec /usr/bin/python3 - "$graph" "$root/ARCHITECTURE.md" <<'PY'
import re
import sys

graph_path, doc_path = sys.argv[1], sys.argv[2]
deps = {}
for line in open(graph_path, encoding="utf-8"):
    if not line.strip():
        continue
    name, _, rest = line.partition(":")
    deps[name.strip()] = rest.split()

print("Module graph (each module: what it links), from", graph_path)
for name, ds in deps.items():
    print(f"  {name}: {' '.join(ds) if ds else '-'}")

layer = {}
def layer_of(name, path=()):
    if name in path:
        sys.exit("module-graph: cycle: " + " -> ".join(path + (name,)))
    if name not in layer:
        layer[name] = 1 + max((layer_of(d, path + (name,)) for d in deps.get(name, [])), default=-1)
    return layer[name]
for name in deps:
    layer_of(name)
layers = [sorted(n for n in deps if layer[n] == i) for i in range(max(layer.values()) + 1)]
def show(group):
    return group[0] if len(group) == 1 else "{" + ", ".join(group) + "}"
actual = " ← ".join(show(g) for g in layers)
print("Layers:", actual)

doc = open(doc_path, encoding="utf-8").read()
m = re.search(r"Dependencies point one way: `([^`]*)`", doc)
if not m:
    sys.exit("module-graph: ARCHITECTURE.md has no line 'Dependencies point one way: `...`'")
stated = [sorted(x.strip() for x in part.strip().strip("{}").split(",")) for part in m.group(1).split("←")]
if stated != layers:
    print("module-graph: ARCHITECTURE.md states", file=sys.stderr)
    print("  " + m.group(1), file=sys.stderr)
    print("but the CMake link lists give", file=sys.stderr)
    print("  " + actual, file=sys.stderr)
    sys.exit(1)
print("ARCHITECTURE.md's dependency line matches.")
PY
