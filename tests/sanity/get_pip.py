"""Stand-in for get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs it inside each fresh sanity venv with get-pip's arguments
(pip==X, --no-setuptools, --no-wheel, ...). Same effect here: pip from the
interpreter's own ensurepip, then the asked-for packages from the package index.
"""
import subprocess
import sys

GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"]
                      + [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY])
