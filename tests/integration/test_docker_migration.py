"""Live migration with Docker Engine between the two lab hosts (lab/docker.yml on both: Debian's docker.io,
dockerd without systemd, images loaded from podman, never pulled): the migration role with
migration_runtime=docker moves a counter with its state, a prober on the controller (not the module) sees the
downtime, a second run changes nothing, and a failed start on the target restarts the source from its own
checkpoint. Host ports 19820-19829."""
import json
import time
import urllib.request

import pytest

from support import LAB_INVENTORY, REPO, lab_hosts, lab_ssh, run_playbook
from test_migration import Prober, address

NAME = "dmig-counter"
PORT = 19820
DIRECTORY = "/var/lib/instanton/migration"
# runc asks CRIU to read this file at every checkpoint and restore Docker asks for.
RUNC_CRIU_CONFIG = "/etc/criu/runc.conf"
COUNTER = (r"""use IO::Socket::INET; $|=1; my $n=0; """
           r"""my $s=IO::Socket::INET->new(LocalPort=>%d, Listen=>64, ReuseAddr=>1) or die "listen: $!"; """
           r"""while (my $c=$s->accept) { while (my $l=<$c>) { last if $l =~ /^\r?$/ } $n++; """
           r"""print $c "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n$n\n"; close $c }""") % PORT
READINESS = {"type": "http", "port": PORT, "path": "/", "timeout": 60}


def docker(host, command, check=True):
    return lab_ssh(host, "docker " + command, check=check)


def exists(host):
    return docker(host, "container inspect %s >/dev/null 2>&1; echo $?" % NAME, check=False).strip() == "0"


def count_at(host, timeout=0.5):
    try:
        with urllib.request.urlopen("http://%s:%d/" % (address(host), PORT), timeout=timeout) as answer:
            return int(answer.read().decode().strip())
    except (OSError, ValueError):
        return None


def start_counter(host):
    # The lab's Docker has no bridge network: the counter shares the host's network.
    docker(host, "run --detach --name %s --pull never --network host --env COUNTER=1 localhost/debian:13 perl -e '%s'"
           % (NAME, COUNTER.replace("'", "'\\''")))
    deadline = time.time() + 30
    while count_at(host) is None:
        assert time.time() < deadline, "the counter did not answer on %s" % host
        time.sleep(0.1)


def clean(host):
    docker(host, "rm --force %s >/dev/null 2>&1; rm -rf %s" % (NAME, DIRECTORY), check=False)


@pytest.fixture(scope="module")
def pair():
    hosts = lab_hosts()
    if len(hosts) < 2:
        pytest.skip("migration needs two lab hosts (make lab LAB_HOSTS=2)")
    pair = hosts[0], hosts[1]
    done = run_playbook(REPO / "lab" / "docker.yml", {"docker_lab_hosts": ",".join(pair)}, inventory=LAB_INVENTORY)
    assert done.returncode == 0, done.stdout[-3000:]
    # The base image is loaded into each host's Docker from its own podman: the IDs differ, so the move has
    # to bring the source's image (docker save / docker load by ID).
    for host in pair:
        clean(host)
        lab_ssh(host, "touch %s && cp -p %s %s.orig && printf 'skip-in-flight\\ntcp-close\\n' >> %s"
                % (RUNC_CRIU_CONFIG, RUNC_CRIU_CONFIG, RUNC_CRIU_CONFIG, RUNC_CRIU_CONFIG))
    yield pair
    for host in pair:
        clean(host)
        lab_ssh(host, "mv %s.orig %s" % (RUNC_CRIU_CONFIG, RUNC_CRIU_CONFIG))


def migrate(tmp_path, source, target, check=False, **extra):
    result_file = tmp_path / "migration.json"
    done = run_playbook(REPO / "playbooks" / "migrate.yml",
                        dict(dict(migration_runtime="docker", migration_container=NAME, migration_source=source,
                                  migration_target=target, migration_readiness=READINESS,
                                  migration_result_file=str(result_file)), **extra),
                        inventory=LAB_INVENTORY, check=check)
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    return done, result


def started_at(host):
    return docker(host, "inspect --format '{{.State.StartedAt}} {{.State.Running}}' %s" % NAME).strip()


def test_check_mode_and_what_docker_cannot_do_stop_nothing(tmp_path, pair):
    source, target = pair
    start_counter(source)
    before = started_at(source)
    done, result = migrate(tmp_path, source, target, check=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert result["source"] == source and result["downtime_ms"] is None
    refused, _result = migrate(tmp_path, source, target, migration_tcp_established=True)
    assert refused.returncode != 0 and "runtime=docker cannot move established TCP connections" in refused.stdout
    assert "Traceback" not in refused.stdout
    assert started_at(source) == before and not exists(target)


def test_a_failed_start_on_the_target_restarts_the_source_from_its_checkpoint(tmp_path, pair):
    source, target = pair
    clean(target)
    if count_at(source) is None:
        start_counter(source)
    before = count_at(source)
    # The target's port is taken (host network): CRIU cannot restore the listening socket there.
    blocker = "dmig-blocker"
    docker(target, "run --detach --name %s --pull never --network host localhost/debian:13 perl -e "
                   "'use IO::Socket::INET; my $s=IO::Socket::INET->new(LocalPort=>%d, Listen=>1, ReuseAddr=>1) "
                   "or die; sleep 600'" % (blocker, PORT))
    try:
        done, result = migrate(tmp_path, source, target)
    finally:
        docker(target, "rm --force %s" % blocker)
    assert done.returncode != 0, done.stdout[-3000:]
    assert "did not move to %s" % target in done.stdout and "Traceback" not in done.stdout, done.stdout[-3000:]
    assert result["answered"] is False and result["source_removed"] is False
    assert result["source_restart"] == "restored", result
    assert "docker start --checkpoint failed on the target" in result["reason"], result["reason"]
    after = count_at(source)
    # Started again from its own checkpoint: the count goes on (a cold start would begin at 1 again).
    assert after is not None and after > before, (before, after)
    assert not exists(target)


@pytest.mark.parametrize("copy", ["controller", "direct"])
def test_a_docker_counter_moves_to_the_other_host_and_goes_on_counting(tmp_path, pair, copy):
    source, target = pair
    clean(target)
    if count_at(source) is None:
        start_counter(source)
    prober = Prober(source, target, count_at)
    prober.start()
    try:
        done, result = migrate(tmp_path, source, target, migration_keep_archives=True, migration_copy=copy)
    finally:
        prober.done.set()
        prober.join()
    assert done.returncode == 0, done.stdout[-4000:]
    assert result["source"] == source and result["target"] == target
    assert result["answered"] is True and result["restored"] is True and result["source_removed"] is True
    last_on_source = max(value for host, value in prober.seen if host == source)
    first_on_target = next(value for host, value in prober.seen if host == target)
    assert first_on_target > last_on_source, prober.seen[-10:]
    assert prober.first_target > prober.last_source
    observed_ms = (prober.first_target - prober.last_source) * 1000
    assert result["copy"] == copy
    print("docker, %s copy: downtime: module %d ms, prober %d ms, checkpoint %d ms, restore %d ms, archive %d bytes, "
          "image copied %s" % (copy, result["downtime_ms"], observed_ms, result["checkpoint_ms"], result["restore_ms"],
                               result["bytes"], result["image_copied"]))
    assert result["downtime_ms"] > 0
    archive = "%s/%s.checkpoint.tar" % (DIRECTORY, NAME)
    assert lab_ssh(target, "stat -c '%%a %%s' %s" % archive).split() == ["600", str(result["bytes"])]
    assert not exists(source)
    image = docker(target, "inspect --format '{{.Image}} {{.Config.Env}} {{.HostConfig.NetworkMode}}' %s" % NAME)
    assert "COUNTER=1" in image and image.split()[-1] == "host"
    # Idempotent: a second run finds it moved and leaves it alone.
    running_since = started_at(target)
    again, repeated = migrate(tmp_path, source, target)
    assert again.returncode == 0 and repeated["moved_already"] is True, again.stdout[-3000:]
    # Only the controller's result file changed (it now says moved_already).
    changed = [task.splitlines()[0] for task in again.stdout.split("TASK [")[1:] if "\nchanged: [" in task]
    assert all(name.startswith("Write the result") for name in changed), changed
    assert started_at(target) == running_since
