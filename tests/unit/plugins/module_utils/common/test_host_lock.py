"""host_lock: one holder at a time across processes, a clear timeout, and private lock files."""
import multiprocessing
import os
import stat
import time

import pytest

from ansible_collections.instanton.platform.plugins.module_utils.common import _host_lock as host_lock


def hold(directory, seconds, started):
    with host_lock.exclusive("restore-sha256:abc", 5, directory):
        started.set()
        time.sleep(seconds)


@pytest.fixture
def holder(tmp_path):
    """A second process holding the lock for 2 s."""
    started = multiprocessing.Event()
    process = multiprocessing.Process(target=hold, args=(str(tmp_path / "locks"), 2, started))
    process.start()
    assert started.wait(10)
    yield
    process.join(10)


def test_waits_for_the_other_holder(tmp_path, holder):
    began = time.time()
    with host_lock.exclusive("restore-sha256:abc", 5, str(tmp_path / "locks")):
        waited = time.time() - began
    assert 1 < waited < 5


def test_times_out_with_a_clear_error(tmp_path, holder):
    with pytest.raises(host_lock.LockError, match="still holds the lock for restore-sha256:abc"):
        with host_lock.exclusive("restore-sha256:abc", 0.1, str(tmp_path / "locks")):
            pass


def test_other_names_do_not_wait(tmp_path, holder):
    began = time.time()
    with host_lock.exclusive("restore-sha256:other", 5, str(tmp_path / "locks")):
        assert time.time() - began < 1


def test_a_lock_directory_that_cannot_be_made_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(host_lock.LockError, match="cannot make the lock file for restore-x in"):
        with host_lock.exclusive("restore-x", 1, str(tmp_path / "file" / "locks")):
            pass


def test_lock_files_are_private_and_named_safely(tmp_path):
    directory = str(tmp_path / "locks")
    with host_lock.exclusive("restore-../../etc/x", 1, directory):
        pass
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert os.listdir(directory) == ["restore-.._.._etc_x.lock"]
    assert stat.S_IMODE(os.stat(os.path.join(directory, "restore-.._.._etc_x.lock")).st_mode) == 0o600
