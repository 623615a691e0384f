"""The bench's pure logic: summaries, ratios, the result schema, the start commands."""
import sys

from support import REPO

BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import apps  # noqa: E402
import run  # noqa: E402
import stats  # noqa: E402


def sample(label, ms, ok=True, **extra):
    return dict(label=label, ms=ms, ok=ok, **extra)


def test_summary_is_median_min_max():
    assert stats.summary([300, 100, 200, None]) == {"median": 200, "min": 100, "max": 300, "n": 3}
    assert stats.summary([1, 2, 3, 4])["median"] == 2.5
    assert stats.summary([]) is None


def test_ratio_of_medians():
    assert stats.ratio({"median": 250}, {"median": 1000}) == 0.25
    assert stats.ratio(None, {"median": 1000}) is None


def test_flavor_entry_ignores_failed_starts_and_counts_fallbacks():
    samples = [sample("a/cold", 1000), sample("a/cold", 800), sample("a/cold", None, ok=False),
               sample("a/generic", 200, restored=True, criu_restore_ms=90),
               sample("a/generic", 700, restored=False)]
    entry = stats.flavor_entry(samples, "a/cold", "a/generic")
    assert entry["cold_ms"] == 900 and entry["instanton_ms"] == 450 and entry["ratio"] == 0.5
    assert entry["instanton"]["criu_restore_ms"]["median"] == 90
    assert entry["instanton"]["cold_fallbacks"] == 1


def test_problems_finds_missing_and_non_numeric_fields():
    good = {"schema": 1, "date": "2026-11-23", "host": {}, "runs": 7,
            "apps": {"a": {"generic": {"cold_ms": 900, "instanton_ms": 200, "ratio": 0.222}}}}
    assert stats.problems(good) == []
    bad = {"schema": 1, "date": "d", "host": {}, "runs": 7, "apps": {"a": {"generic": {"cold_ms": "x", "ratio": None}}}}
    assert stats.problems(bad) == ["a/generic: cold_ms is not a number", "a/generic: missing instanton_ms"]


def test_start_commands_publish_on_loopback_and_grant_only_restore_capabilities():
    app = apps.APPS[0]
    cold = run.start_argv(app, None, "img", 28080)
    assert "--cap-add" not in cold and cold[-3:] == ["--publish", "127.0.0.1:28080:8080", "img"]
    instanton = run.start_argv(app, "generic", "img", 28081)
    assert instanton.count("--cap-add") == 2 and "SYS_PTRACE" not in instanton
    assert "--publish" not in run.start_argv(app, "generic", "img", 28081, network="host")


def test_experiment_entrypoints_set_the_restore_verbosity_they_name():
    from ansible_collections.instanton.platform.plugins.module_utils.instanton import _instanton_scripts as instanton_scripts
    for experiment in [e for e in apps.EXPERIMENTS if "entrypoint" in e]:
        text = run.entrypoint_variant(experiment["entrypoint"])
        assert '--log-file "$restore_log" %s' % experiment["label"].split()[-1] in text
        assert instanton_scripts.RESTORED_MARKER in text


def test_variants_compare_with_podman_run_and_with_the_cold_start():
    found = stats.variant_summary([sample("a/generic x", 100)], {"median": 200}, {"median": 800})
    assert found["vs_baseline"] == 0.5 and found["vs_cold"] == 0.125


def test_spares_are_created_before_the_clock_and_pods_hold_the_published_port():
    app = apps.APPS[0]
    plain = run.spare_variant("a", app, "img", 28090, {"pod": False, "api": False})
    assert plain["argv"] == ["podman", "start", "{name}"] and "cleanup" not in plain
    assert plain["prepare"][0][:3] == ["create", "--name", "{name}"] and "127.0.0.1:{port}:8080" in plain["prepare"][0]
    pod = run.spare_variant("b", app, "img", 28091, {"pod": True, "api": True})
    assert pod["prepare"][0][:4] == ["pod", "create", "--name", "{name}-pod"] and "127.0.0.1:{port}:8080" in pod["prepare"][0]
    assert pod["prepare"][-1][-3:] == ["--pod", "{name}-pod", "img"] and "--publish" not in pod["prepare"][-1]
    assert pod["cleanup"] == [["pod", "rm", "--force", "--time", "0", "{name}-pod"]]
    assert pod["prepare"][-1].count("--cap-add") == 2


def test_restore_figures_are_read_from_each_flavors_own_messages():
    import onhost
    assert onhost.criu_stats("instanton: restored pid 42 in 81 ms\n", "marker") == {
        "restore_step_ms": 81, "restored": True}
    liberty = onhost.criu_stats("[AUDIT   ] CWWKC0452I: The Liberty server process resumed operation from a "
                                "checkpoint in 0.192 seconds.\n", "liberty")
    assert liberty == {"restore_step_ms": 192, "restored": True}
    cold = onhost.criu_stats("CWWKE0957I: Restoring the checkpoint server process failed. Check the log.\n", "liberty")
    assert cold["restored"] is False and cold["cold_reason"].startswith("CWWKE0957I")


def test_criu_statistics_come_from_stats_restore_or_from_podmans_print_stats():
    stats_restore = "40591055063309570f000000120d08001000180020d1e00328c47c"  # a real one, from a lab host
    samples = [{"criu_stats_hex": stats_restore},
               {"criu_stats": {"forking_time": 1200, "restore_time": 97300, "pages_restored": 15900}},
               {"criu_stats_hex": ""}]
    run.add_criu_statistics(samples)
    assert samples[0] == {"criu_restore_ms": 61.5, "criu_forking_ms": 0.0, "criu_pages_restored": 15940}
    assert samples[1] == {"criu_restore_ms": 97.3, "criu_forking_ms": 1.2, "criu_pages_restored": 15900}
    assert samples[2] == {}
