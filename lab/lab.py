#!/usr/bin/env python3
"""The built-in lab: Debian 13 hosts in network and mount namespaces, reached over SSH.

    lab.py up [--hosts N]   create or restart N hosts, write .lab/inventory.yml
    lab.py down             stop the hosts and remove them (the base cache stays)
    lab.py status           one line per host

Each host is a debootstrapped Debian 13 root entered with pivot_root inside its
own mount, UTS and network namespaces, with a veth on a lab bridge, NAT to the
package registries, and sshd on its lab address. Why it is built this way is in
docs/lab.md.
"""
import argparse
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAB_DIR = Path(os.environ.get("LAB_DIR", Path(__file__).resolve().parent.parent / ".lab"))
HERE = Path(__file__).resolve().parent
SUITE = "trixie"
# LAB_ID and LAB_SUBNET let a second lab live beside the first (a CI rehearsal).
LAB_ID = os.environ.get("LAB_ID", "ilab")
BRIDGE = LAB_ID + "0"
NFT_TABLE = "instanton_" + LAB_ID
SUBNET = ipaddress.ip_network(os.environ.get("LAB_SUBNET", "172.31.231.0/24"))
GATEWAY = SUBNET.network_address + 1
HOST_PACKAGES = ["openssh-server", "python3", "python3-apt", "iproute2", "ca-certificates", "sudo"]
SSH_TIMEOUT = 60


class LabError(Exception):
    pass


def run(*cmd, check=True, quiet=False, **kwargs):
    result = subprocess.run(cmd, text=True, capture_output=True, **kwargs)
    if check and result.returncode != 0:
        raise LabError("%s failed (%d): %s" % (" ".join(cmd), result.returncode,
                                                (result.stderr or result.stdout).strip()[-2000:]))
    return result


def say(message):
    print("lab: %s" % message, flush=True)


def debian_mirror():
    """The Debian mirror this machine's apt already uses: the lab reaches the same registry."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    for line in Path("/etc/apt/sources.list").read_text().splitlines():
        words = line.split()
        if words[:1] == ["deb"] and "security" not in words[1]:
            return words[1]
    raise LabError("no Debian mirror found in this machine's apt sources")


# ---------------------------------------------------------------- base cache

def cache_paths():
    cache = LAB_DIR / "cache"
    return cache / ("debian-13-minbase.tar"), cache / ("lab-host-root.tar")


def build_cache():
    image_tar, host_tar = cache_paths()
    if image_tar.exists() and host_tar.exists():
        return
    image_tar.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="debootstrap.", dir=image_tar.parent))
    try:
        say("debootstrap %s (minbase), cached for later runs" % SUITE)
        run("debootstrap", "--variant=minbase", SUITE, str(staging), debian_mirror())
        staging.chmod(0o755)  # mkdtemp made it 0700; it becomes the hosts' "/"
        run("tar", "--numeric-owner", "-C", str(staging), "-cf", str(image_tar) + ".part", ".")
        os.replace(str(image_tar) + ".part", image_tar)
        say("adding %s to the host root" % ", ".join(HOST_PACKAGES))
        install_in_chroot(staging, HOST_PACKAGES)
        run("tar", "--numeric-owner", "-C", str(staging), "-cf", str(host_tar) + ".part", ".")
        os.replace(str(host_tar) + ".part", host_tar)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_in_chroot(root, packages):
    # No service may start inside the chroot.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run("chroot", str(root), "apt-get", "update", "-q", env=env)
        run("chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages, env=env)
        run("chroot", str(root), "apt-get", "clean", env=env)
    finally:
        policy.unlink()


# ---------------------------------------------------------------- network

def setup_network():
    if run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", "%s/%d" % (GATEWAY, SUBNET.prefixlen), "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    # NAT out of the lab only; nothing is forwarded into other private ranges. Hosts of this lab
    # reach each other (the lab registry): with br_netfilter on, bridged traffic meets this hook too.
    ruleset = """
table ip {table}
delete table ip {table}
table ip {table} {{
  chain forward {{
    type filter hook forward priority 0; policy accept;
    iifname "{bridge}" oifname "{bridge}" ip saddr {subnet} ip daddr {subnet} accept
    iifname "{bridge}" ip daddr {{ 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 }} udp dport 53 accept
    iifname "{bridge}" ip daddr {{ 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 }} drop
  }}
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    ip saddr {subnet} oifname != "{bridge}" masquerade
  }}
}}
""".format(table=NFT_TABLE, bridge=BRIDGE, subnet=SUBNET)
    run("nft", "-f", "-", input=ruleset)


def teardown_network():
    run("nft", "delete", "table", "ip", NFT_TABLE, check=False)
    run("ip", "link", "del", BRIDGE, check=False)


# ---------------------------------------------------------------- hosts

class Host:
    def __init__(self, index):
        self.index = index
        self.name = "lab%d" % index
        self.address = SUBNET.network_address + 10 + index
        self.dir = LAB_DIR / "hosts" / self.name
        self.root = self.dir / "root"
        self.netns = "%s-%s" % (LAB_ID, self.name)
        self.veth = "%s%dh" % (LAB_ID, index)
        self.pid_file = self.dir / "init.pid"

    def pid(self):
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def running(self):
        return self.pid() is not None

    def create_root(self, public_key):
        _, host_tar = cache_paths()
        staging = self.dir / "root.part"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        run("tar", "--numeric-owner", "-C", str(staging), "-xf", str(host_tar))
        (staging / "etc/hostname").write_text(self.name + "\n")
        (staging / "etc/hosts").write_text("127.0.0.1 localhost\n%s %s\n" % (self.address, self.name))
        shutil.copy("/etc/resolv.conf", staging / "etc/resolv.conf")
        for key in (staging / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        run("chroot", str(staging), "ssh-keygen", "-A")
        ssh_dir = staging / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(public_key)
        (ssh_dir / "authorized_keys").chmod(0o600)
        (staging / "etc/ssh/sshd_config.d/instanton-lab.conf").write_text(
            "ListenAddress %s\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n"
            % self.address)
        shutil.copy(HERE / "lab-init.py", staging / "usr/local/sbin/instanton-lab-init")
        base_images = staging / "var/lib/instanton-lab"
        base_images.mkdir(parents=True, exist_ok=True)
        image_tar, _ = cache_paths()
        shutil.copy(image_tar, base_images / "debian-13.tar")
        os.replace(staging, self.root)

    def setup_link(self):
        """A fresh namespace and link; ones left by a lab whose processes were killed go first."""
        run("ip", "link", "del", self.veth, check=False)
        run("ip", "netns", "del", self.netns, check=False)
        run("ip", "netns", "add", self.netns)
        netns = ("ip", "netns", "exec", self.netns)
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        run("ip", "link", "set", self.veth, "master", BRIDGE, "up")
        run(*netns, "ip", "addr", "add", "%s/%d" % (self.address, SUBNET.prefixlen), "dev", "eth0")
        run(*netns, "ip", "link", "set", "lo", "up")
        run(*netns, "ip", "link", "set", "eth0", "up")
        run(*netns, "ip", "route", "add", "default", "via", str(GATEWAY))

    def boot(self):
        console = open(self.dir / "console.log", "ab")
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "--fork",
             str(HERE / "host-boot.sh"), str(self.root), self.name],
            stdin=subprocess.DEVNULL, stdout=console, stderr=console, start_new_session=True)
        self.pid_file.write_text("%d\n" % process.pid)

    def wait_for_ssh(self):
        deadline = time.monotonic() + SSH_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((str(self.address), 22), timeout=1) as conn:
                    if conn.recv(4).startswith(b"SSH"):
                        return
            except OSError:
                time.sleep(0.2)
        raise LabError("%s: sshd did not answer on %s:22 within %ds; see %s"
                       % (self.name, self.address, SSH_TIMEOUT, self.dir / "console.log"))

    def init_pid(self):
        """The lab-init process: the unshare wrapper's only child."""
        pid = self.pid()
        if pid is None:
            return None
        children = Path("/proc/%d/task/%d/children" % (pid, pid))
        try:
            return int(children.read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def stop(self):
        wrapper = self.pid()
        init = self.init_pid()
        if init:
            os.kill(init, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while wrapper and self.running() and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.running():
            os.killpg(wrapper, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def remove(self):
        self.stop()
        run("ip", "link", "del", self.veth, check=False)
        run("ip", "netns", "del", self.netns, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def existing_hosts():
    hosts_dir = LAB_DIR / "hosts"
    if not hosts_dir.exists():
        return []
    return [Host(int(p.name[3:])) for p in sorted(hosts_dir.iterdir()) if p.name.startswith("lab")]


def ssh_key():
    key = LAB_DIR / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "instanton-lab", "-f", str(key))
    return key


def write_inventory(hosts, key):
    known_hosts = LAB_DIR / "ssh" / "known_hosts"
    ssh_args = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=%s -o ControlMaster=auto "
                "-o ControlPersist=120s -o ControlPath=%s/ssh/cm-%%C" % (known_hosts, LAB_DIR))
    inventory = {"all": {"children": {"lab": {
        "hosts": {h.name: {"ansible_host": str(h.address)} for h in hosts},
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": ssh_args,
            "ansible_python_interpreter": "/usr/bin/python3",
            "instanton_lab_base_image_tarball": "/var/lib/instanton-lab/debian-13.tar",
            # No registry is reachable: the smoke test uses the imported base image.
            "host_smoke_image": "localhost/debian:13",
        },
    }}}}
    # JSON is valid YAML; the file is small and written atomically.
    path = LAB_DIR / "inventory.yml"
    part = path.with_suffix(".part")
    part.write_text(json.dumps(inventory, indent=2) + "\n")
    os.replace(part, path)
    known_hosts.unlink(missing_ok=True)
    return path


def check_requirements():
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, mounts, CRIU)")
    missing = [t for t in ("debootstrap", "ip", "nft", "unshare", "ssh-keygen", "chroot")
               if shutil.which(t) is None]
    if missing:
        raise LabError("missing tools: %s (apt-get install debootstrap iproute2 nftables "
                       "openssh-client util-linux)" % ", ".join(missing))


def up(count):
    check_requirements()
    build_cache()
    key = ssh_key()
    public_key = Path(str(key) + ".pub").read_text()
    setup_network()
    hosts = [Host(i) for i in range(1, count + 1)]
    for extra in existing_hosts():
        if extra.index > count:
            say("removing %s (more than %d hosts asked for)" % (extra.name, count))
            extra.remove()
    for host in hosts:
        if host.running():
            continue
        if not host.root.exists():
            say("creating %s at %s" % (host.name, host.address))
            host.create_root(public_key)
        else:
            say("restarting %s" % host.name)
        host.setup_link()
        host.boot()
    for host in hosts:
        host.wait_for_ssh()
    path = write_inventory(hosts, key)
    say("%d host(s) up; inventory: %s" % (count, path))


def remove_podman_cgroups():
    """Lab hosts share the machine's cgroup hierarchies: drop the (empty) cgroups their podman made."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        parent = hierarchy / "libpod_parent"
        if parent.is_dir():
            for cgroup in sorted(parent.glob("**/"), key=lambda p: len(p.parts), reverse=True):
                try:
                    cgroup.rmdir()
                except OSError:
                    pass


def down():
    for host in existing_hosts():
        say("removing %s" % host.name)
        host.remove()
    remove_podman_cgroups()
    teardown_network()
    (LAB_DIR / "inventory.yml").unlink(missing_ok=True)


def status():
    for host in existing_hosts():
        print("%s %s %s" % (host.name, host.address, "running" if host.running() else "stopped"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up")
    up_parser.add_argument("--hosts", type=int, default=int(os.environ.get("LAB_HOSTS", 2)))
    sub.add_parser("down")
    sub.add_parser("status")
    args = parser.parse_args()
    try:
        if args.command == "up":
            if not 1 <= args.hosts <= 8:
                raise LabError("--hosts must be between 1 and 8")
            up(args.hosts)
        elif args.command == "down":
            down()
        else:
            status()
    except LabError as error:
        sys.exit("lab: error: %s" % error)


if __name__ == "__main__":
    main()
