"""checkpoint_retention, run through ansible on real files with real modification times."""
import os
import time

import pytest

from support import run_module

DAY = 86400


def make(directory, name, age_days):
    path = directory / name
    path.write_bytes(b"archive")
    stamp = time.time() - age_days * DAY
    os.utime(str(path), (stamp, stamp))
    return str(path)


@pytest.fixture
def archives(tmp_path):
    names = {
        "web_shop-app": [0, 1, 2, 10],
        "web_shop-sidecar": [30],
    }
    made = {}
    for container, ages in names.items():
        for age in ages:
            name = "checkpoint-%s-2026-01-%02dT00:00:00Z.tar" % (container, 10 + age)
            made[(container, age)] = make(tmp_path, name, age)
    made["odd"] = make(tmp_path, "manual-export.tar.zst", 100)
    make(tmp_path, "notes.txt", 100)
    return tmp_path, made


def test_keep_removes_beyond_count_per_container(archives):
    directory, made = archives
    result = run_module("checkpoint_retention", {"path": str(directory), "keep": 2})
    assert result["changed"] is True
    assert result["removed"] == [made[("web_shop-app", 10)], made[("web_shop-app", 2)]]
    assert result["containers"] == {"web_shop-app": 4, "web_shop-sidecar": 1,
                                    "manual-export.tar.zst": 1}
    assert not os.path.exists(made[("web_shop-app", 2)])
    assert os.path.exists(made[("web_shop-app", 1)]) and os.path.exists(made["odd"])
    assert (directory / "notes.txt").exists()


def test_max_age_never_removes_the_newest_per_container(archives):
    directory, made = archives
    result = run_module("checkpoint_retention", {"path": str(directory), "max_age": "36h"})
    assert result["removed"] == [made[("web_shop-app", 10)], made[("web_shop-app", 2)]]
    # 30 days old but the only archive of its container: it stays.
    assert os.path.exists(made[("web_shop-sidecar", 30)])


def test_check_mode_reports_and_keeps_everything(archives):
    directory, made = archives
    result = run_module("checkpoint_retention", {"path": str(directory), "keep": 1}, check=True)
    assert result["changed"] is True
    assert len(result["removed"]) == 3
    assert all(os.path.exists(path) for path in result["removed"])


def test_second_run_is_unchanged(archives):
    directory = archives[0]
    run_module("checkpoint_retention", {"path": str(directory), "keep": 1})
    again = run_module("checkpoint_retention", {"path": str(directory), "keep": 1})
    assert again["changed"] is False and again["removed"] == []


@pytest.mark.parametrize("args, message", [
    ({"keep": 0}, "keep must be 1 or more"),
    ({"max_age": "soon"}, "is not a duration"),
    ({"keep": 1, "container_regex": "(unclosed"}, "not a valid regular expression"),
    ({"keep": 1, "container_regex": "^(.+)-"}, "named group"),
    ({}, "one of the following is required: keep, max_age"),
])
def test_bad_input_fails_with_a_message(tmp_path, args, message):
    args["path"] = str(tmp_path)
    result = run_module("checkpoint_retention", args)
    assert result["failed"] is True
    assert message in result["msg"]


def test_missing_directory(tmp_path):
    result = run_module("checkpoint_retention", {"path": str(tmp_path / "absent"), "keep": 1})
    assert result["failed"] is True and "is not a directory" in result["msg"]


def test_the_operators_policy_shape_removes_oldest_first_and_spares_pinned_archives(archives):
    directory, made = archives
    pin = made[("web_shop-app", 1)] + ".keep"
    open(pin, "w").close()
    policy = {"apiVersion": "criu.org/v1", "kind": "CheckpointRestoreOperator",
              "spec": {"checkpointDirectory": str(directory), "globalPolicy": {"maxCheckpointsPerContainer": 3},
                       "containerPolicies": [{"namespace": "shop", "pod": "web", "container": "app",
                                              "maxCheckpoints": 2}]}}
    planned = run_module("checkpoint_retention", {"policy": policy}, check=True)
    assert planned["changed"] is True and all(os.path.exists(path) for path in planned["removed"])
    # app has 4: the two oldest unpinned go (10 and 2 days), the pinned one (1 day) stays.
    assert planned["removed"] == [made[("web_shop-app", 10)], made[("web_shop-app", 2)]]
    assert planned["pinned"] == [made[("web_shop-app", 1)]]
    assert planned["containers"]["shop/web/app"] == 4
    done = run_module("checkpoint_retention", {"policy": policy})
    assert done["removed"] == planned["removed"] and not any(os.path.exists(p) for p in done["removed"])
    assert run_module("checkpoint_retention", {"policy": policy})["changed"] is False


def test_a_policy_that_needs_the_cluster_is_refused(tmp_path):
    result = run_module("checkpoint_retention", {"path": str(tmp_path),
                                                 "policy": {"globalPolicy": {"retainOrphan": False}}})
    assert result["failed"] is True and "retainOrphan" in result["msg"]
