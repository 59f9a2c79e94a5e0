"""EU-k: Goel et al., "Towards Adversarial Evaluations for Inexact Machine Unlearning", 2022 (arXiv:2201.06640).

EU-k ("exact unlearning the last k layers") re-initialises the last `k` blocks of the model, freezes the rest and
trains those blocks on the retain set alone: `L = CE(retain)`. Whatever the re-initialised blocks know, they learnt
from retain rows only; what the frozen blocks learnt from the forget set stays. That suits a class request, whose
forget set the head alone names (a head re-learnt on retain rows never predicts the class, as a retrained model
never does), and suits a speaker or sample request less, since the frozen features still carry them.

It is CF-k (`hf_unlearn.methods.cf_k`) with `reinit=True` as its default, registered under its own key so that
benchmarks, settings and cards name the two methods apart, as the paper does.

Deviations: those of CF-k ("blocks" are top-level child modules rather than the paper's ResNet stages; see
`hf_unlearn.methods.cf_k`). Re-initialisation calls `reset_parameters()` on every sub-module that has one, under the
run's seed, rather than the paper's initialisation of a fresh network; a resumed run re-initialises nothing again.
"""

from dataclasses import dataclass, field

from hf_unlearn.methods.cf_k import CFkConfig, CFkTrainer


@dataclass
class EUkConfig(CFkConfig):
    """EU-k's depth; `reinit` is on (CF-k's switch, kept so that `reinit=False` gives CF-k's behaviour back).

    Args:
        k (`int`, *optional*, defaults to 1):
            Number of last top-level child modules (with parameters) to re-initialise and train.
        reinit (`bool`, *optional*, defaults to `True`):
            Re-initialise those modules before training (EU-k's defining step).
    """

    reinit: bool = field(default=True, metadata={"help": "Re-initialise the last k modules first (EU-k)."})

    PRESETS = {}  # UnSLU-BENCH runs CF-k, not EU-k


class EUkTrainer(CFkTrainer, method="eu_k", aliases=("eu-k", "euk")):
    config_class = EUkConfig
    summary = "EU-k: re-initialise the last `k` top-level modules, freeze the rest, train them on retain"
    # peft_note: CF-k's, which gives EU-k's reason too.
