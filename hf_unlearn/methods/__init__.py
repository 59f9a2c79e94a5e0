"""Built-in unlearning methods: importing this package registers each one (one file per method)."""

from hf_unlearn.methods.bad_teaching import BadTeachingConfig, BadTeachingTrainer
from hf_unlearn.methods.bad_teaching_lite import BadTeachingLiteConfig, BadTeachingLiteTrainer
from hf_unlearn.methods.cf_k import CFkConfig, CFkTrainer
from hf_unlearn.methods.finetune import FinetuneConfig, FinetuneTrainer
from hf_unlearn.methods.gradient_ascent import GradientAscentConfig, GradientAscentTrainer
from hf_unlearn.methods.l1_sparse import L1SparseConfig, L1SparseTrainer
from hf_unlearn.methods.neggrad_plus import NegGradPlusConfig, NegGradPlusTrainer
from hf_unlearn.methods.npo import NPOConfig, NPOTrainer
from hf_unlearn.methods.random_labels import RandomLabelsConfig, RandomLabelsTrainer
from hf_unlearn.methods.reset_perturb import ResetPerturbConfig, ResetPerturbTrainer
from hf_unlearn.methods.salun import SalUnConfig, SalUnTrainer
from hf_unlearn.methods.scrub import SCRUBConfig, SCRUBTrainer
from hf_unlearn.methods.unsir import UNSIRConfig, UNSIRTrainer

__all__ = [
    "BadTeachingConfig",
    "BadTeachingTrainer",
    "BadTeachingLiteConfig",
    "BadTeachingLiteTrainer",
    "CFkConfig",
    "CFkTrainer",
    "FinetuneConfig",
    "FinetuneTrainer",
    "GradientAscentConfig",
    "GradientAscentTrainer",
    "L1SparseConfig",
    "L1SparseTrainer",
    "NegGradPlusConfig",
    "NegGradPlusTrainer",
    "NPOConfig",
    "NPOTrainer",
    "RandomLabelsConfig",
    "RandomLabelsTrainer",
    "ResetPerturbConfig",
    "ResetPerturbTrainer",
    "SalUnConfig",
    "SalUnTrainer",
    "SCRUBConfig",
    "SCRUBTrainer",
    "UNSIRConfig",
    "UNSIRTrainer",
]
