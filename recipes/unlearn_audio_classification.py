#!/usr/bin/env python
"""Unlearn a forget request from an audio classifier: a thin wrapper of the package command `hf-unlearn unlearn`
(`hf_unlearn/cli/unlearn.py`), kept so that existing command lines keep working. The arguments, the `--config` YAML and
the outputs are the command's; prefer the command, which a `pip install hf-unlearn` provides:

```bash
hf-unlearn unlearn --config recipes/configs/fsdd/neggrad_plus.yaml \
    --dataset_name path/to/free-spoken-digit-dataset --forget_classes 0 --output_dir runs/fsdd-ngplus
accelerate launch --config_file recipes/accelerate_configs/multi_gpu.yaml -m hf_unlearn.cli unlearn \
    --config recipes/configs/fsc/scrub.yaml --dataset_name path/to/fsc --output_dir runs/fsc-scrub
```
"""

import sys

from hf_unlearn.cli.unlearn import command, main, parse_arguments, peft_config  # noqa: F401  (the recipe's interface)

if __name__ == "__main__":
    sys.exit(command(sys.argv[1:]))
