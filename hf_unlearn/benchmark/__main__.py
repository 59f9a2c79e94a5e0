"""`python -m hf_unlearn.benchmark ...`: the same as `hf-unlearn benchmark ...`."""

import sys

from hf_unlearn.benchmark import main

sys.exit(main())
