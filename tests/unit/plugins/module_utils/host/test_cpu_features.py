"""cpu_features: what /proc/cpuinfo says, what a target lacks, and the image labels that record a build host's CPU."""
import platform

from ansible_collections.instanton.platform.plugins.module_utils.host import _cpu_features as cpu_features

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model\t\t: 143
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse sse2 avx avx2 hypervisor constant_tsc avx512f

processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse sse2 avx avx2 hypervisor constant_tsc avx512f
"""
ARM64 = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics
CPU implementer\t: 0x41
"""


def test_x86_cpuinfo_gives_the_model_and_the_sorted_flags_of_the_first_processor():
    found = cpu_features.parse_cpuinfo(X86)
    assert found["model"] == "Intel(R) Xeon(R) Processor"
    assert found["flags"] == sorted(["fpu", "sse", "sse2", "avx", "avx2", "hypervisor", "constant_tsc", "avx512f"])


def test_arm64_cpuinfo_names_its_flags_features():
    found = cpu_features.parse_cpuinfo(ARM64)
    assert "atomics" in found["flags"] and "asimd" in found["flags"]


def test_host_cpu_reads_the_file_and_declared_flags_replace_its_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(X86)
    read = cpu_features.host_cpu(cpuinfo_path=str(cpuinfo))
    assert read["arch"] == platform.machine() and "avx512f" in read["flags"] and read["source"] == str(cpuinfo)
    declared = cpu_features.host_cpu(["sse2", "sse"], cpuinfo_path=str(cpuinfo))
    assert declared["flags"] == ["sse", "sse2"] and declared["source"] == "declared"
    assert declared["model"] == "Intel(R) Xeon(R) Processor"


def test_a_missing_cpuinfo_gives_no_flags_rather_than_an_error(tmp_path):
    assert cpu_features.host_cpu(cpuinfo_path=str(tmp_path / "none"))["flags"] == []


def test_missing_features_are_what_the_source_has_and_the_target_lacks_except_machine_only_flags():
    source = ["sse2", "avx2", "avx512f", "hypervisor", "constant_tsc"]
    assert cpu_features.missing_features(source, ["sse2", "avx2"]) == ["avx512f"]
    assert cpu_features.missing_features(["sse2"], ["sse2", "avx512f"]) == []


def test_the_problem_names_every_missing_feature_and_none_when_compatible():
    source = {"arch": "x86_64", "flags": ["sse2", "avx2", "avx512f", "avx512bw"]}
    problem = cpu_features.compatibility_problem(source, {"arch": "x86_64", "flags": ["sse2"]}, "lab1", "lab2")
    assert "lab2 lacks CPU features that lab1 has" in problem and problem.endswith("avx2 avx512bw avx512f")
    assert cpu_features.compatibility_problem(source, {"arch": "x86_64", "flags": source["flags"] + ["sha_ni"]}) is None


def test_another_architecture_is_refused_whatever_the_flags():
    problem = cpu_features.compatibility_problem({"arch": "x86_64", "flags": []}, {"arch": "aarch64", "flags": []})
    assert "x86_64" in problem and "aarch64" in problem


def test_image_labels_round_trip_and_the_image_check_names_what_this_host_lacks():
    labels = cpu_features.image_labels({"arch": "x86_64", "flags": ["avx2", "sse2"]})
    assert cpu_features.recorded_cpu(labels) == {"arch": "x86_64", "flags": ["avx2", "sse2"]}
    problem = cpu_features.image_problem(labels, {"arch": "x86_64", "flags": ["sse2"]})
    assert "the host that checkpointed the image" in problem and problem.endswith("avx2")
    assert cpu_features.image_problem(labels, {"arch": "x86_64", "flags": ["sse2", "avx2"]}) is None


def test_images_without_the_labels_are_not_judged():
    assert cpu_features.image_problem({"io.instanton.platform.flavor": "generic"}, {"arch": "x86_64", "flags": []}) is None
    assert cpu_features.image_problem(None, {"arch": "x86_64", "flags": []}) is None
