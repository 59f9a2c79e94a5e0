"""Built-in unlearning methods: importing this package registers each one (one file per method)."""

from hf_unlearn.methods.finetune import FinetuneConfig, FinetuneTrainer
from hf_unlearn.methods.gradient_ascent import GradientAscentConfig, GradientAscentTrainer
from hf_unlearn.methods.neggrad_plus import NegGradPlusConfig, NegGradPlusTrainer
from hf_unlearn.methods.random_labels import RandomLabelsConfig, RandomLabelsTrainer

__all__ = [
    "FinetuneConfig",
    "FinetuneTrainer",
    "GradientAscentConfig",
    "GradientAscentTrainer",
    "NegGradPlusConfig",
    "NegGradPlusTrainer",
    "RandomLabelsConfig",
    "RandomLabelsTrainer",
]
