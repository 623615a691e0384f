"""The bundled playbooks run as Tower/AWX runs a job (ansible-runner), and publish their results
with set_stats so that a workflow's next node can use them.

The InstantOn image here is a podman checkpoint image of a shell loop on the lab's base image:
small and quick, and still a real checkpoint and restore."""
import uuid

import ansible_runner
import pytest

from support import LAB_INVENTORY, REPO, ansible_env, lab_ssh, target_host

pytestmark = pytest.mark.lab
HOST = target_host() if LAB_INVENTORY.exists() else None
RUN_ID = uuid.uuid4().hex[:6]
IMAGE = "localhost/itest-awx-%s:instanton" % RUN_ID
CONTAINER = "itest-awx-%s" % RUN_ID


def run_job(tmp_path, playbook, extravars):
    """One job: the playbook through ansible-runner; its stats event's set_stats data."""
    job = ansible_runner.run(private_data_dir=str(tmp_path / playbook), playbook=str(REPO / "playbooks" / playbook),
                             inventory=str(LAB_INVENTORY), extravars=dict(extravars, instanton_hosts=HOST),
                             envvars={key: value for key, value in ansible_env().items() if key.startswith("ANSIBLE_")
                                      and key != "ANSIBLE_STDOUT_CALLBACK"},
                             quiet=True, timeout=600)
    assert job.status == "successful", "".join(job.stdout.readlines()[-40:])
    stats = [event for event in job.events if event["event"] == "playbook_on_stats"]
    return stats[0]["event_data"]["artifact_data"]


@pytest.fixture
def cleanup():
    yield
    lab_ssh(HOST, "podman rm -f -t 0 %s; podman rmi -f %s" % (CONTAINER, IMAGE), check=False)


def test_build_and_run_jobs_publish_their_results(tmp_path, cleanup):
    built = run_job(tmp_path, "build_instanton.yml", {
        "instanton_image": IMAGE, "instanton_app_image": "localhost/debian:13", "instanton_flavor": "podman",
        "instanton_command": ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done"]})
    build = built["instanton_build"][HOST]
    assert build["image"] == IMAGE and build["built"] is True
    image_id = lab_ssh(HOST, "podman image inspect --format '{{.Id}}' %s" % IMAGE).strip()
    assert build["image_id"] == image_id

    ran = run_job(tmp_path, "run_instanton.yml", {
        "instanton_container": CONTAINER, "instanton_image": IMAGE, "instanton_require_restore": True})
    run = ran["instanton_run"][HOST]
    assert run["restored"] is True and run["image_id"] == image_id
    assert isinstance(run["start_ms"], int) and run["start_command"] == "podman container restore"
