#!/usr/bin/env python
"""The FSDD benchmark ships in the package: this script is `hf-unlearn benchmark` (see `hf_unlearn.benchmark`)."""

import sys

from hf_unlearn.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
