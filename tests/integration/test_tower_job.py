"""The bundled playbooks run as Tower/AWX runs a job (ansible-runner), and publish their results
with set_stats so that a workflow's next node can use them.

The InstantOn image here is a podman checkpoint image of a perl TCP counter on the lab's base image:
small and quick, and still a real checkpoint and restore."""
import os
import uuid

import ansible_runner
import pytest

from support import BIN, LAB_INVENTORY, REPO, ansible_env, lab_ssh, target_host

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
RUN_ID = uuid.uuid4().hex[:6]
IMAGE = "localhost/itest-awx-%s:instanton" % RUN_ID
CONTAINER = "itest-awx-%s" % RUN_ID
# A TCP counter in perl, which the lab's minimal Debian image holds.
COUNTER = ('use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => 8080,'
           ' Listen => 5, ReuseAddr => 1) or die; my $n = 0; while (my $c = $s->accept) { $n++; print $c "$n\\n"; close $c }')


def run_job(tmp_path, playbook, extravars):
    """One job: the playbook through ansible-runner; its stats event's set_stats data."""
    private_data = tmp_path / playbook
    private_data.mkdir()
    job = ansible_runner.run(private_data_dir=str(private_data), project_dir=str(REPO / "playbooks"), playbook=playbook,
                             inventory=str(LAB_INVENTORY), extravars=dict(extravars, instanton_hosts=HOST),
                             envvars={key: value for key, value in ansible_env().items() if key.startswith("ANSIBLE_")
                                      and key != "ANSIBLE_STDOUT_CALLBACK"},
                             quiet=True, timeout=600)
    assert job.status == "successful", "".join(job.stdout.readlines()[-40:])
    stats = [event for event in job.events if event["event"] == "playbook_on_stats"]
    return stats[0]["event_data"]["artifact_data"]


@pytest.fixture
def cleanup(monkeypatch):
    # ansible-runner finds ansible-playbook on PATH, as Tower's job environment does.
    monkeypatch.setenv("PATH", "%s:%s" % (BIN, os.environ["PATH"]))
    yield
    lab_ssh(HOST, "podman rm -f -t 0 %s; podman rmi -f %s" % (CONTAINER, IMAGE), check=False)


def test_build_and_run_jobs_publish_their_results(tmp_path, cleanup):
    built = run_job(tmp_path, "build_instanton.yml", {
        "instanton_image": IMAGE, "instanton_app_image": "localhost/debian:13", "instanton_flavor": "podman",
        "instanton_command": ["perl", "-e", COUNTER], "instanton_readiness": {"type": "tcp", "port": 8080}})
    build = built["instanton_build"][HOST]
    assert build["image"] == IMAGE and build["built"] is True
    image_id = lab_ssh(HOST, "podman image inspect --format '{{.Id}}' %s" % IMAGE).strip()
    assert build["image_id"] == image_id

    ran = run_job(tmp_path, "run_instanton.yml", {
        "instanton_container": CONTAINER, "instanton_image": IMAGE, "instanton_require_restore": True})
    run = ran["instanton_run"][HOST]
    assert run["restored"] is True and run["image"] == IMAGE and run["image_id"] == image_id
    assert run["digest"] == build["digest"] and run["digest"].startswith("sha256:")
    assert isinstance(run["start_ms"], int) and run["start_command"] == "podman container restore"
