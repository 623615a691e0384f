"""The bench's pure logic: summaries of timed samples and the result document's schema."""
import statistics

SCHEMA_VERSION = 1


def summary(values):
    """Median, min, max and count of the values (milliseconds); None when there are none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": round(statistics.median(values), 1), "min": min(values), "max": max(values), "n": len(values)}


def ratio(part, whole):
    """part/whole of two medians, or None when either is missing."""
    if not part or not whole:
        return None
    return round(part["median"] / whole["median"], 3)


def by_label(samples):
    """{label: [samples]} keeping only successful starts."""
    found = {}
    for sample in samples:
        found.setdefault(sample["label"], [])
        if sample.get("ok"):
            found[sample["label"]].append(sample)
    return found


def variant_summary(samples, baseline=None, cold=None):
    """Summary of one variant's samples: time to first answer, CRIU's restore time, fallbacks, and
    its median over the baseline's (the flavor's `podman run`) and over the cold start's."""
    starts = summary([s["ms"] for s in samples])
    found = {"first_answer_ms": starts,
             "criu_restore_ms": summary([s.get("criu_restore_ms") for s in samples]),
             "criu_forking_ms": summary([s.get("criu_forking_ms") for s in samples]),
             "criu_pages_restored": summary([s.get("criu_pages_restored") for s in samples]),
             "restore_step_ms": summary([s.get("restore_step_ms") for s in samples]),
             "cold_fallbacks": sum(1 for s in samples if s.get("restored") is False)}
    if baseline is not None:
        found["vs_baseline"] = ratio(starts, baseline)
    if cold is not None:
        found["vs_cold"] = ratio(starts, cold)
    return found


def flavor_entry(samples, cold_label, instanton_label):
    """The per app and flavor figures results must hold: medians and their ratio."""
    groups = by_label(samples)
    cold = summary([s["ms"] for s in groups.get(cold_label, [])])
    instanton = summary([s["ms"] for s in groups.get(instanton_label, [])])
    return {"cold_ms": cold["median"] if cold else None,
            "instanton_ms": instanton["median"] if instanton else None,
            "ratio": ratio(instanton, cold),
            "cold": variant_summary(groups.get(cold_label, [])),
            "instanton": variant_summary(groups.get(instanton_label, []))}


def problems(result):
    """What is wrong with a result document (an empty list when it is well formed)."""
    found = []
    for key in ("schema", "date", "host", "runs", "apps"):
        if key not in result:
            found.append("missing %s" % key)
    for app, flavors in (result.get("apps") or {}).items():
        for flavor, entry in flavors.items():
            for key in ("cold_ms", "instanton_ms", "ratio"):
                if key not in entry:
                    found.append("%s/%s: missing %s" % (app, flavor, key))
                elif entry[key] is not None and not isinstance(entry[key], (int, float)):
                    found.append("%s/%s: %s is not a number" % (app, flavor, key))
    return found
