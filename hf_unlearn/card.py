"""Model cards for unlearned checkpoints, rendered with `huggingface_hub.ModelCard` from `templates/model_card.md`."""

from __future__ import annotations

import os

TEMPLATE_PATH = os.path.join(os.path.dirname(__file__), "templates", "model_card.md")
# Metrics published in the card's model-index: (key in the results, metric type, readable name).
CARD_METRICS = (
    ("forget_accuracy", "accuracy", "Forget accuracy"),
    ("forget_f1", "f1", "Forget macro-F1"),
    ("retain_accuracy", "accuracy", "Retain accuracy"),
    ("retain_f1", "f1", "Retain macro-F1"),
    ("test_accuracy", "accuracy", "Test accuracy"),
    ("test_f1", "f1", "Test macro-F1"),
    ("mia", "mia", "Membership inference accuracy (forget vs test)"),
    ("gum", "gum", "GUM"),
    ("cgum", "cgum", "CGUM"),
)


def _versions() -> dict[str, str]:
    import datasets
    import torch
    import transformers

    import hf_unlearn

    return {
        "hf-unlearn": hf_unlearn.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "datasets": datasets.__version__,
    }


def build_model_card(
    method_key: str,
    paper: str,
    results: dict,
    request: dict,
    hyperparameters: dict,
    table: str,
    base_model: str | None = None,
    model_id: str = "path/to/model",
    dataset_name: str = "custom",
    dataset_id: str | None = None,
    license: str = "apache-2.0",
):
    """Renders the card. `results` holds the unlearned model's metrics; `request` counts, never identities."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    eval_results = [
        EvalResult(
            task_type="audio-classification",
            dataset_type=dataset_id or dataset_name,
            dataset_name=dataset_name,
            dataset_split=key.split("_")[0] if key != "mia" else "forget+test",
            metric_type=metric_type,
            metric_name=name,
            metric_value=round(float(results[key]), 4),
        )
        for key, metric_type, name in CARD_METRICS
        if key in results
    ]
    hub_base = base_model if base_model and not os.path.exists(base_model) else None  # only Hub ids belong in YAML
    card_data = ModelCardData(
        model_name=model_id.split("/")[-1],
        base_model=hub_base,
        datasets=[dataset_id] if dataset_id else None,
        library_name="transformers",
        license=license,
        pipeline_tag="audio-classification",
        tags=["hf-unlearn", "machine-unlearning", method_key, f"{request.get('kind', 'sample')}-unlearning"],
        eval_results=eval_results or None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=TEMPLATE_PATH,
        model_name=model_id.split("/")[-1],
        model_id=model_id,
        base_model_text=base_model or "a speech classifier",
        method_key=method_key,
        paper=paper,
        request=request,
        hyperparameters=hyperparameters,
        results_table=table,
        versions=_versions(),
    )
