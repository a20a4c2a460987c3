#!/usr/bin/env bash
# Warns, before the venv and the build, when the disk holding DIR has less than NEED GiB free: an
# out-of-space pip or cargo fails with a message that does not say how much room the whole job needs.
# Usage: scripts/check_disk.sh DIR NEED_GIB. Never fails the build itself: df may be missing or lie.
set -u
dir=${1:-.}
need=${2:-7}
avail_kib=$(df -Pk "$dir" 2>/dev/null | awk 'NR==2 {print $4}')
[[ "$avail_kib" =~ ^[0-9]+$ ]] || exit 0
avail_gib=$((avail_kib / 1048576))
if ((avail_gib < need)); then
    echo "warning: ${avail_gib} GiB free on the disk holding $(cd "$dir" && pwd); set-up, build and tests need about ${need} GiB" \
        "(.venv 4.9 GiB with torch's CUDA wheels, target/ 0.9 GiB, ~/.cargo 0.5 GiB)." >&2
fi
exit 0
