"""criu_errors.classify over CRIU log lines: each cause the table knows, and the first Error line otherwise."""
import pytest

from ansible_collections.instanton.platform.plugins.module_utils.instanton import _container_run as container_run
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _criu_errors as criu_errors
from ansible_collections.instanton.platform.plugins.module_utils.instanton import _image_build as image_build

# (phase, log lines as CRIU writes them, cause). Lines seen on the lab's kernel 6.18 with CRIU 4.1.1/4.2.1
# (sockets, io_uring, seccomp, splice) or as CRIU's sources write them (the others).
RECORDED = [
    ("dump", "(00.012345) Error (criu/sockets.c:452): sockets: Can't get 1:16 opt: Operation not supported\n"
             "(00.012400) Error (criu/cr-dump.c:2099): Dumping FAILED.\n", "criu_too_old_for_kernel"),
    ("dump", "(00.001100) Error (criu/vdso.c:632): vdso: Unexpected rt vDSO area bounds\n", "criu_too_old_for_kernel"),
    ("dump", "(00.021034) Unknown shit 600 (anon_inode:[io_uring])\n"
             "(00.021040) Error (criu/proc_parse.c:760): Can't open 45's mapfile link 7f3c2a000000: "
             "No such device or address\n", "io_uring"),
    ("dump", "(00.119475) Error (criu/sk-inet.c:137): inet: Unsupported proto 262 for socket 74b57\n"
             "(00.119476) Error (criu/sk-inet.c:139): inet: For Go programs, consider using "
             "\"GODEBUG=multipathtcp=0\" to disable MPTCP\n", "mptcp"),
    ("dump", "(00.030000) Error (criu/sk-inet.c:199): inet: Connected TCP socket, consider using --tcp-established "
             "option.\n", "established_tcp"),
    ("dump", "(00.004000) Error (compel/src/lib/infect.c:398): suspending seccomp failed: Operation not permitted\n",
     "seccomp"),
    ("restore", "(00.100000) Error (criu/pipes.c:338): Error splicing data: Operation not permitted\n"
                "(00.100100) Error (criu/cr-restore.c:2512): Restoring FAILED.\n", "seccomp"),
    ("restore", "(00.050000) Error (criu/cr-restore.c:1480): Can't fork for 45: File exists\n", "pid_in_use"),
    ("restore", "(00.050000) Error (criu/cr-restore.c:1501): Pid 46 do not match expected 45\n", "pid_in_use"),
    ("restore", "(00.020000) Error (criu/mount.c:1650): mnt: No mapping for 312:(null) mountpoint\n",
     "external_mount_missing"),
    ("restore", "(00.020000) Error (criu/mount.c:2101): mnt: Can't mount at ./srv/data: No such file or directory\n",
     "external_mount_missing"),
    ("restore", "(00.070000) Error (criu/cr-restore.c:3291): Unable to restore capabilities\n", "missing_capability"),
    ("dump", "(00.000500) Error (criu/kerndat.c:1120): Unable create a network namespace: Operation not permitted\n",
     "missing_capability"),
]


@pytest.mark.parametrize("phase, log, cause", RECORDED)
def test_recorded_lines_get_their_cause_and_a_hint(phase, log, cause):
    found = criu_errors.classify(phase, log)
    assert found["phase"] == phase and found["cause"] == cause
    assert found["hint"] and found["log_excerpt"] in log


def test_a_cause_the_table_does_not_know_reports_the_first_error_line():
    log = ("(00.100000) Warn (criu/image.c:1): something odd\n"
           "(00.200000) Error (criu/image.c:1): Unable to open pstree.img\n"
           "(00.300000) Error (criu/cr-restore.c:2512): Restoring FAILED.\n")
    found = criu_errors.classify("restore", log)
    assert found["cause"] == "unknown"
    assert found["log_excerpt"] == "(00.200000) Error (criu/image.c:1): Unable to open pstree.img"


def test_no_error_no_classification():
    assert criu_errors.classify("restore", "(00.1) restore finished\n") is None
    assert criu_errors.classify("restore", None) is None


def test_the_entrypoints_one_line_reason_is_split_into_criu_lines():
    reason = ("criu restore failed: (00.100000) Error (criu/image.c:1): Unable to open pstree.img "
              "(00.300000) Error (criu/cr-restore.c:2512): Restoring FAILED. ")
    found = criu_errors.classify("restore", reason)
    assert found["log_excerpt"] == "(00.100000) Error (criu/image.c:1): Unable to open pstree.img"


def test_a_cold_start_after_a_failed_restore_carries_criu_error():
    log = ("instanton: cold start: criu restore failed: (00.1) Error (criu/pipes.c:338): Error splicing data: "
           "Operation not permitted (00.2) Error (criu/cr-restore.c:2512): Restoring FAILED.\n")
    image = {"Id": "g" * 64, "Config": {"Labels": {image_build.FLAVOR_LABEL: "generic"}}}

    class Logs(object):
        def run(self, args, check=True):
            return 0, log, ""

    params = {"name": "app", "readiness": None}
    found = container_run.Runner(Logs(), params, None).report({"State": {"Restored": False}}, image)
    assert found["restored"] is False and found["criu_error"]["cause"] == "seccomp"
