"""The trainer: `UnlearningTrainer` (`trainer.py`, the one file a method author reads), its config (`config.py`), the
method registry (`registry.py`), and the helpers it calls: saving and resuming (`saving.py`), evaluation over splits
(`split_evaluation.py`), the divergence guard, batch-norm handling, gradient masks, teachers and several processes.

Nothing is imported here, so `hf_unlearn.trainer.registry` stays light; `from hf_unlearn import UnlearningTrainer`
is the public entry point.
"""
