"""What is published with an unlearned model and read back from the Hub: the model card and its opening verdict
(`card.py`, `outcome.py`), loading checkpoints (`loading.py`), the privacy of the forget request (`privacy.py`) and
the audit log (`audit.py`). Imports nothing from the trainer: the trainer calls these."""
