#!/bin/bash
# Runs as the first process of a lab host, already inside its own network,
# mount and UTS namespaces (lab.py starts it with `ip netns exec` + `unshare`).
# Turns ROOT into the host's real root with pivot_root: a plain chroot is not
# enough for podman or `criu check` (see docs/lab.md).
set -euo pipefail
root=$1 hostname=$2

hostname "$hostname"
mount --make-rprivate /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
# `ip netns exec` gave us a fresh /sys without the cgroup mounts: mount the
# machine's cgroup v1 hierarchies again. The cgroup2 "unified" mount is left
# out on purpose: crun refuses the hybrid layout and works on pure v1.
mount -t tmpfs -o mode=0755 cgroup "$root/sys/fs/cgroup"
while read -r _ dir fstype options _; do
  [ "$fstype" = cgroup ] || continue
  mkdir -p "$root/sys/fs/cgroup/${dir##*/}"
  mount -t cgroup -o "$options" cgroup "$root/sys/fs/cgroup/${dir##*/}"
done < /proc/1/mounts
mkdir -p "$root/.old-root"
cd "$root"
pivot_root . .old-root
umount -l /.old-root
rmdir /.old-root
exec /usr/local/sbin/instanton-lab-init
