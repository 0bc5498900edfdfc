"""What the PyTorch-Python references of `adept bench` share: importing torch, the settings
they report, and the --serve protocol that adept's launcher (cli/src/adept/bench/PythonReference.java)
speaks.

The protocol: the script is started as `script --serve --threads N [its own options]`; once it
is set up it prints one line {"ready": {settings}}; then for every line "N" read from stdin it
runs N repeats (or steps) and prints one JSON line {key: results}; an empty line or EOF ends it.
Exit status 3 means torch could not be imported.
"""
import json
import os
import sys

# The environment the launcher sets for the reference, as adept runs under it: reported back.
ENV_KEYS = ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
            "GLIBC_TUNABLES")


def import_torch(script):
    """torch, or a one-paragraph hint on stderr and exit status 3 when it is not installed."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the machine
        sys.stderr.write(
            "%s: cannot import torch with %s (%s).\n"
            "Install Debian's PyTorch: sudo apt-get install python3-torch (or run tools/setup.sh --python)\n"
            % (script, sys.executable, e))
        sys.exit(3)
    return torch


def info(torch):
    """The interpreter, torch, its thread count and the environment settings in ENV_KEYS."""
    out = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    for key in ENV_KEYS:
        out[key] = os.environ.get(key)
    return out


def serve(ready, run):
    """The --serve loop: prints {"ready": ready}, then run(n) (a JSON-able dict) for every line "n"."""
    print(json.dumps({"ready": ready}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        print(json.dumps(run(int(line))), flush=True)
