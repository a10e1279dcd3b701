#!/usr/bin/env bash
# The ROS 2 wheels of bench/node_gpu_wheels.txt packed small enough to travel to the GPU machine with the
# tree (64 MiB in all, the repository itself ~35 MB): each wheel re-stored uncompressed, then all of them
# in one xz tarball (45 MB of wheels -> ~23 MB), from the repository root:
#   bash bench/pack_ros_wheels.sh WHEEL_DIR OUT.tar.xz
# On the GPU machine: mkdir -p /tmp/w && tar -xJf OUT.tar.xz -C /tmp/w && bash bench/node_gpu.sh OUT_DIR /tmp/w
# (pip installs the uncompressed wheels as they are.)
set -euo pipefail
wheels="$(cd "$1" && pwd)"
out="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/stored"
for wheel in "$wheels"/*.whl; do
  rm -rf "$work/unpacked" && mkdir "$work/unpacked"
  (cd "$work/unpacked" && unzip -q "$wheel" && zip -q -0 -r -X "$work/stored/$(basename "$wheel")" .)
done
tar -cJf "$out" -C "$work/stored" .
echo "$(ls "$work/stored" | wc -l) wheels -> $out ($(du -h "$out" | cut -f1))"
