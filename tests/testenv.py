"""testenv.py — how every Python test of clconv starts: numpy and Pillow
present (else the test is skipped: exit 77), the clconv binary from the
command line, and the seed of its random inputs, printed so that
CLCONV_TEST_SEED=<seed> repeats a failing run."""
import os
import random
import sys


def start(name):
    """Returns (absolute path of the clconv binary, seed)."""
    try:
        import numpy  # noqa: F401
        import PIL.Image  # noqa: F401
    except ImportError as e:  # pragma: no cover
        print(f"skipped: {e}")
        sys.exit(77)
    if len(sys.argv) < 2:
        print(f"usage: {name} CLCONV")
        sys.exit(2)
    seed = int(os.environ.get("CLCONV_TEST_SEED")
               or random.SystemRandom().randrange(2**32))
    print(f"{name}: seed {seed} (CLCONV_TEST_SEED={seed} repeats this run)",
          flush=True)
    return os.path.abspath(sys.argv[1]), seed


class Checks:
    """check(cond, what) counts a check and prints what failed; finish()
    prints the tally and exits 1 on any failure."""

    def __init__(self, name):
        self.name = name
        self.count = 0
        self.failures = []

    def __call__(self, cond, what):
        self.count += 1
        if not cond:
            self.failures.append(what)
            print("FAIL:", what)

    def finish(self):
        print(f"{self.name}: {self.count} checks, {len(self.failures)} failed")
        sys.exit(1 if self.failures else 0)
