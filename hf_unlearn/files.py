"""File names of what an unlearning run writes next to its model (and of one it refuses to read), and the training
fields it records."""

UNLEARNING_CONFIG_NAME = "unlearning_config.json"  # the method, its hyperparameters, the request's public record
# The method state of older versions, a pickle: a checkpoint holding it is refused, never unpickled. The state is now
# `unlearning_state.safetensors` + `unlearning_state.json` (`hf_unlearn.trainer.saving`).
UNLEARNING_STATE_NAME = "unlearning_state.pt"
UNLEARNING_RESULTS_NAME = "unlearning_results.json"  # last evaluate() of the model, the original and the gold model
AUDIT_LOG_NAME = "unlearning_log.jsonl"  # one line per request the model served (`hf_unlearn.hub.audit`)
MODEL_CARD_NAME = "README.md"
# TrainingArguments fields worth recording next to a checkpoint (the rest are run plumbing).
RECORDED_TRAINING_FIELDS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "weight_decay",
    "max_grad_norm",
    "optim",
    "lr_scheduler_type",
    "warmup_steps",
    "seed",
)
INCOMPLETE_SAVE_NAME = "unlearning_save_incomplete"  # present while a save is written; left behind when it failed
