"""Docker Engine as the runtime (lab/docker.yml: Debian's docker.io, dockerd without systemd, images loaded
from podman, never pulled): docker_checkpoint checkpoints a counter and starts it again from the checkpoint,
in a new container (docker/cli 3008: the checkpoint is copied into its own directory), past moby 42900.
Host ports 19810-19819."""
import os
import time
import urllib.request

import pytest
import yaml

from support import LAB_INVENTORY, REPO, lab_hosts, lab_ssh, run_module, run_playbook

NAME = "dk-counter"
PORT = 19810
CHECKPOINTS = "/var/lib/instanton/docker-checkpoints"
COUNTER = (r"""use IO::Socket::INET; $|=1; my $n=0; """
           r"""my $s=IO::Socket::INET->new(LocalPort=>%d, Listen=>64, ReuseAddr=>1) or die "listen: $!"; """
           r"""while (my $c=$s->accept) { while (my $l=<$c>) { last if $l =~ /^\r?$/ } $n++; """
           r"""print $c "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n$n\n"; close $c }""") % PORT
# The lab's Docker has no bridge network: the counter shares the host's network.
RUN_OPTIONS = "--name %s --pull never --network host localhost/debian:13 perl -e '%s'" % (
    NAME, COUNTER.replace("'", "'\\''"))


@pytest.fixture(scope="module")
def docker_host():
    host = os.environ.get("INSTANTON_DOCKER_HOST") or lab_hosts()[-1]
    done = run_playbook(REPO / "lab" / "docker.yml", {"docker_lab_hosts": host}, inventory=LAB_INVENTORY)
    assert done.returncode == 0, done.stdout[-3000:]
    lab_ssh(host, "docker rm --force %s >/dev/null 2>&1; rm -rf %s" % (NAME, CHECKPOINTS))
    yield host
    lab_ssh(host, "docker rm --force %s >/dev/null 2>&1; rm -rf %s" % (NAME, CHECKPOINTS))


def count(host):
    address = yaml.safe_load(LAB_INVENTORY.read_text())["all"]["children"]["lab"]["hosts"][host]["ansible_host"]
    with urllib.request.urlopen("http://%s:%d/" % (address, PORT), timeout=5) as answer:
        return int(answer.read().decode().strip())


def wait_count(host):
    deadline = time.time() + 30
    while True:
        try:
            return count(host)
        except OSError:
            assert time.time() < deadline, "the counter did not answer"
            time.sleep(0.2)


def module(host, **args):
    return run_module("docker_checkpoint", args, host=host, inventory=LAB_INVENTORY)


def test_a_counter_goes_on_from_its_docker_checkpoint_in_a_new_container(docker_host):
    lab_ssh(docker_host, "docker run --detach " + RUN_OPTIONS)
    for _warm_up in range(4):
        wait_count(docker_host)
    before = count(docker_host)
    taken = module(docker_host, name=NAME, state="checkpointed", checkpoint="warm", checkpoint_dir=CHECKPOINTS)
    assert taken.get("changed") and not taken.get("failed"), taken.get("msg")
    assert lab_ssh(docker_host, "docker inspect --format '{{.State.Running}}' %s" % NAME).strip() == "false"
    size = int(lab_ssh(docker_host, "du -sb %s/warm | cut -f1" % CHECKPOINTS).split()[0])
    assert taken["bytes"] > 0 and abs(taken["bytes"] - size) < 64 * 1024
    assert lab_ssh(docker_host, "stat -c %%a %s/warm" % CHECKPOINTS).strip() == "700"
    # A new container from the same image and options, as on another host: docker start cannot read the
    # checkpoint directory (docker/cli 3008), the module copies the checkpoint into the container's own.
    lab_ssh(docker_host, "docker rm %s && docker create %s" % (NAME, RUN_OPTIONS))
    started = module(docker_host, name=NAME, state="restored", checkpoint="warm", checkpoint_dir=CHECKPOINTS,
                     readiness={"type": "http", "port": PORT})
    assert not started.get("failed"), started.get("msg")
    assert started["restored"] is True and started["start_command"] == "docker start --checkpoint"
    assert started["start_ms"] > 0
    after = count(docker_host)
    assert after == before + 2, (before, after)  # the readiness probe asked once, then this request
    again = module(docker_host, name=NAME, state="restored", checkpoint="warm")
    assert again["changed"] is False and again["restored"] is None
    print("docker start --checkpoint: %d ms, blobs removed for moby 42900: %s" % (
        started["start_ms"], started["content_removed"]))


def test_a_counter_goes_on_from_its_own_docker_checkpoint(docker_host):
    lab_ssh(docker_host, "docker rm --force %s >/dev/null 2>&1; docker run --detach %s" % (NAME, RUN_OPTIONS))
    for _warm_up in range(3):
        wait_count(docker_host)
    before = count(docker_host)
    taken = module(docker_host, name=NAME, state="checkpointed", checkpoint="own")
    assert taken.get("changed") and taken["bytes"] > 0, taken.get("msg")
    # A plain `docker start --checkpoint` within seconds of the checkpoint fails here with "content
    # sha256:...: already exists" (moby 42900: the checkpoint's blobs are still in containerd until its
    # garbage collection); the module then removes them and starts again (content_removed). Whether a run
    # falls in that window depends on timing, so the test does not demand it.
    started = module(docker_host, name=NAME, state="restored", checkpoint="own",
                     readiness={"type": "tcp", "port": PORT})
    assert not started.get("failed"), started.get("msg")
    assert started["restored"] is True
    # The readiness probe's connection counts too; a cold start would count from 1 again.
    assert count(docker_host) > before
    print("blobs removed for moby 42900: %s" % started["content_removed"])
