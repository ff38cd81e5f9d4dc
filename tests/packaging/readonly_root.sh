#!/bin/bash
# Runs a command as it would run in the image on Kubernetes: the whole root
# filesystem read-only, /data and /tmp empty and writable, nothing else.
#
#   unshare --mount --propagation private readonly_root.sh ROOT [KEEP...] -- COMMAND...
#
# ROOT is an empty folder to build the sandbox in. Every top-level folder of
# the host is bound read-only under it, /data and /tmp are fresh tmpfs mounts,
# and COMMAND runs chrooted there. KEEP folders under /tmp (a checkout, a
# virtualenv) stay visible, read-only. Mounts live in the private namespace only.
set -euo pipefail
root=$1
shift
keep=()
while [ "$1" != "--" ]; do
    keep+=("$1")
    shift
done
shift
mount -t tmpfs -o mode=0755 sandbox-root "$root"
for entry in /*; do
    name=${entry#/}
    case $name in
        # Kernel and writable folders are mounted below; the rest is not
        # the program's business.
        tmp | data | proc | sys | dev | lost+found | mnt | old_root) continue ;;
    esac
    if [ -L "$entry" ]; then
        ln -s "$(readlink "$entry")" "$root/$name"
    elif [ -d "$entry" ]; then
        mkdir "$root/$name"
        mount --rbind "$entry" "$root/$name"
    fi
done
mkdir "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/data"
mount --rbind /proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"

# A recursive bind keeps its submounts writable: make every mount under the
# sandbox read-only except the kernel's and the two writable folders.
awk '{print $5}' /proc/self/mountinfo | grep "^$root/" | while read -r target; do
    case $target in
        "$root"/proc* | "$root"/sys* | "$root"/dev*) ;;
        *) mount -o remount,bind,ro "$target" 2>/dev/null || true ;;
    esac
done
mount -o remount,bind,ro "$root/sys" 2>/dev/null || true
mount -t tmpfs -o mode=1777 sandbox-tmp "$root/tmp"
mount -t tmpfs -o mode=0755 sandbox-data "$root/data"
for folder in "${keep[@]}"; do
    case $folder in
        /tmp/*)
            mkdir -p "$root$folder"
            mount --rbind "$folder" "$root$folder"
            mount -o remount,bind,ro "$root$folder"
            ;;
    esac
done
mount -o remount,ro "$root"

exec chroot "$root" "$@"
