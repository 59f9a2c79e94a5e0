"""`python -m hf_unlearn.cli ...` (also `accelerate launch -m hf_unlearn.cli ...`): the same as `hf-unlearn ...`."""

import sys

from hf_unlearn.cli.main import main

sys.exit(main())
