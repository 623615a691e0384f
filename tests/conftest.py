"""Make `ansible_collections.instanton.platform` importable from the repo checkout, and the shared
test helpers in tests/ (support, kubelet_standin, criu_images) importable under any pytest import
mode (ansible-test units imports test files with importlib)."""
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
COLLECTIONS = TESTS.parent / ".collections"
for path in (COLLECTIONS, TESTS):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
