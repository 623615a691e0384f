"""Print the demo's results side by side, and fail when an InstantOn start did not restore."""
import json
import sys

results = json.load(open(sys.argv[1]))
cold = results["cold_start_ms"]
print("\n  %-40s %8s" % ("start to first HTTP 200", "ms"))
print("  %-40s %8d" % ("cold start (podman run)", cold))
for label, ms, restored in [("InstantOn restore (podman run)", results["instanton_start_ms"], results["restored"]),
                            ("InstantOn spare in a pod (%s)" % results["spare_start_command"],
                             results["spare_start_ms"], results["spare_restored"])]:
    print("  %-40s %8d   (restored: %s, %.0f%% of cold)" % (label, ms, restored, 100.0 * ms / cold))
move = results.get("migration")
if move:
    print("  %-40s %8d   (%s -> %s, %d KB checkpoint, restored: %s, %.1fx the InstantOn start)" % (
        "moved to another host: downtime", move["downtime_ms"], move["source"], move["target"],
        move["bytes"] // 1024, move["restored"], move["downtime_ms"] / float(results["instanton_start_ms"])))
idle = results["scale_to_zero"]
print("  %-40s %8d   (restored: %s, %.0f%% of cold, %.1fx the spare)" % (
    "first request after scale to zero", idle["wake_ms"], idle["restored"], 100.0 * idle["wake_ms"] / cold,
    idle["wake_ms"] / idle["fast_path_ms"]))
print("  idle: container stopped, no process left: %s (it held %d MB)" % (
    idle["idle_stopped"], idle["rss_kb_before_idle"] // 1024))
if "signature_verified" in results:
    trust = results["trust"]
    print("  signature_verified: %s (checked in %d ms, then the signed image restored in %d ms; the archive in %d ms"
          " and %d ms)" % (json.dumps(results["signature_verified"]), trust["image_verify_ms"], trust["image_start_ms"],
                           trust["archive_verify_ms"], trust["archive_start_ms"]))
    print("  tampered_refused: %s (one byte flipped in %s: %s, no container created)" % (
        json.dumps(results["tampered_refused"]), trust["tampered_member"], trust["tampered_failed"]))
    if not (results["signature_verified"] and results["tampered_refused"]):
        sys.exit("trust: signature verified %s, tampered copy refused %s" % (
            results["signature_verified"], results["tampered_refused"]))
if not (idle["idle_stopped"] and idle["restored"]):
    sys.exit("scale to zero: stopped when idle %s, restored on the next request %s" % (
        idle["idle_stopped"], idle["restored"]))
if not (results["restored"] and results["spare_restored"]):
    sys.exit("an InstantOn container did not restore: %s" % (
        results.get("fallback_reason") or results.get("spare_fallback_reason")))
if move and not (move["answered"] and move["source_removed"] and move["source"] != move["target"]):
    sys.exit("migration: answered on the target %s, source removed %s" % (move["answered"], move["source_removed"]))
