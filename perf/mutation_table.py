"""The table of `perf/mutations.py`: deliberate bugs in the modules that decide results, each with the tests that
should catch it (see docs/mutation_testing.md). `tests/test_mutation_table.py` checks that every snippet still occurs
exactly once in its source."""

from __future__ import annotations

import os
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Mutant:
    """One change: in `module` (a path from the repository root), `original` (occurring exactly once) becomes
    `replacement`; `tests` are pytest arguments (files or node ids) and `k` an optional `-k` expression."""

    module: str
    original: str
    replacement: str
    what: str
    tests: tuple[str, ...]
    k: str | None = None


def _m(module, original, replacement, what, tests, k=None) -> Mutant:
    return Mutant(f"hf_unlearn/{module}", original, replacement, what, tuple(tests), k)


CAUGHT = "tests/test_mutations_caught.py"
DECIDING = "tests/test_deciding_values.py"
EVALUATION = "tests/test_evaluation.py"
LIRA = "tests/test_lira.py"
LOSSES = "tests/test_losses.py"
SPLITS = "tests/test_splits.py"
METHODS = (CAUGHT, "tests/test_method_losses.py")
EVAL_AND_VALUES = (EVALUATION, DECIDING)

MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------------------------------- evaluation/mia.py
    _m("evaluation/mia.py", "n = min(forget.size, test.size)", "n = max(forget.size, test.size)",
       "balance on the larger set", [EVALUATION], "mia"),
    _m("evaluation/mia.py", "if n < MIN_SAMPLES_PER_CLASS:", "if n <= MIN_SAMPLES_PER_CLASS:",
       "< vs <= on the minimum size", [EVALUATION], "mia"),
    _m("evaluation/mia.py", "np.zeros(n, dtype=int), np.ones(n, dtype=int)",
       "np.ones(n, dtype=int), np.zeros(n, dtype=int)",
       "members and non-members swapped", [EVALUATION], "mia"),
    _m("evaluation/mia.py", "roc_auc_score(members, -samples.ravel())", "roc_auc_score(members, samples.ravel())",
       "AUC sign flipped", [EVALUATION], "mia"),
    _m("evaluation/mia.py", "forgetting_score=abs(0.5 - accuracy)", "forgetting_score=0.5 - accuracy",
       "forgetting score without abs", [EVALUATION], "mia"),
    _m("evaluation/mia.py", "accuracy = float(np.mean(fold_accuracies))", "accuracy = float(np.max(fold_accuracies))",
       "best fold instead of the mean", [EVALUATION], "mia"),
    _m("evaluation/mia.py", "samples = np.concatenate([test, forget])", "samples = np.concatenate([forget, test])",
       "samples in the other order than the labels", [EVALUATION], "mia"),
    # ------------------------------------------------------------------------------------- evaluation/gum.py
    _m("evaluation/gum.py", "mia_unl = min(mia_unl, mia_full)", "mia_unl = max(mia_unl, mia_full)",
       "GUM clamp direction", EVAL_AND_VALUES, "gum"),
    _m("evaluation/gum.py", "E = 1 - ((mia_unl - mia_gold) / denominator) ** 2",
       "E = 1 - abs((mia_unl - mia_gold) / denominator)", "GUM efficacy not squared", EVAL_AND_VALUES, "gum"),
    _m("evaluation/gum.py", "U = 1 - abs(f1_unl - f1_gold)", "U = 1 - (f1_unl - f1_gold)", "GUM utility without abs",
       EVAL_AND_VALUES, "gum"),
    _m("evaluation/gum.py", "T = 1 - math.log(t_unl + 1) / math.log(t_gold + 1)",
       "T = 1 - math.log(t_gold + 1) / math.log(t_unl + 1)", "GUM time ratio inverted", EVAL_AND_VALUES, "gum"),
    _m("evaluation/gum.py", "(alpha + beta + 1) * U * E * T / (alpha * E * T + beta * U * T + U * E + EPS)",
       "(alpha + beta + 1) * U * E * T / (beta * E * T + alpha * U * T + U * E + EPS)", "alpha and beta swapped",
       EVAL_AND_VALUES, "gum"),
    _m("evaluation/gum.py", "chance = 1 / int(num_classes)", "chance = 0.0", "CGUM without the chance level",
       EVAL_AND_VALUES, "gum"),
    _m("evaluation/gum.py", "if mia_orig >= mia_gold else max(mia_unl, mia_orig)",
       "if mia_orig >= mia_gold else min(mia_unl, mia_orig)", "CGUM saturation one-sided", EVAL_AND_VALUES, "gum"),
    _m("evaluation/gum.py", "if mia_gold >= mia_orig:", "if mia_gold > mia_orig:", "undefined at equality: >= vs >",
       EVAL_AND_VALUES, "gum or undefined"),
    _m("evaluation/gum.py", "return t_gold / t_unl", "return t_unl / t_gold", "speed-up inverted", EVAL_AND_VALUES,
       "speedup"),
    # -------------------------------------------------------------------------------------- evaluation/kl.py
    _m("evaluation/kl.py", "log_p, log_q = log_softmax(reference_logits), log_softmax(model_logits)",
       "log_q, log_p = log_softmax(reference_logits), log_softmax(model_logits)", "KL(model || gold) instead",
       [LIRA], "kl"),
    _m("evaluation/kl.py", "(np.exp(log_p) * (log_p - log_q)).sum(axis=1)",
       "(np.exp(log_q) * (log_p - log_q)).sum(axis=1)",
       "weighted by the wrong distribution", [LIRA], "kl"),
    _m("evaluation/kl.py", "(log_p - log_q)).sum(axis=1)", "(log_p - log_q)).sum(axis=0)",
       "summed over the wrong axis",
       [LIRA], "kl"),
    _m("evaluation/kl.py", "return float(divergences.mean())", "return float(divergences.sum())", "sum, not mean",
       [LIRA], "kl"),
    _m("evaluation/kl.py", "if divergences.size == 0:", "if divergences.size < 0:", "empty split accepted",
       [LIRA, DECIDING], "kl"),
    # --------------------------------------------------------------------------------- evaluation/subsets.py
    _m("evaluation/subsets.py", '"accuracy": float(np.mean(predictions == labels))',
       '"accuracy": float(np.mean(predictions != labels))', "error rate as accuracy", EVAL_AND_VALUES,
       "subset or gaps"),
    _m("evaluation/subsets.py", 'average="macro", labels=classes', 'average="micro", labels=classes',
       "micro instead of macro F1", EVAL_AND_VALUES, "subset or gaps"),
    _m("evaluation/subsets.py", "classes = np.unique(labels)",
       "classes = np.unique(np.concatenate([labels, predictions]))",
       "F1 over predicted-only classes too", EVAL_AND_VALUES, "subset or gaps"),
    _m("evaluation/subsets.py", 'gaps[f"{key}_minus_gold"] = float(value) - float(gold_value)',
       'gaps[f"{key}_minus_gold"] = float(gold_value) - float(value)', "gap sign flipped", EVAL_AND_VALUES,
       "subset or gaps"),
    _m("evaluation/subsets.py", "if not (math.isfinite(value) and math.isfinite(gold_value)):\n            continue",
       "if False:\n            continue", "NaN gaps kept", EVAL_AND_VALUES, "subset or gaps"),
    _m("evaluation/subsets.py", "if labels.size == 0:", "if labels.size < 0:", "empty split scored", EVAL_AND_VALUES,
       "subset"),
    # ---------------------------------------------------------------------- evaluation/unlearning_metrics.py
    _m("evaluation/unlearning_metrics.py", 'results["forgetting_score"] = abs(0.5 - results["mia"])',
       'results["forgetting_score"] = 0.5 - results["mia"]', "forgetting score without abs", EVAL_AND_VALUES,
       "unlearning_metrics"),
    _m("evaluation/unlearning_metrics.py", '_attack(split_losses, "forget", "forget_test", ("mia_heldout",',
       '_attack(split_losses, "forget", "test", ("mia_heldout",', "held-out MIA against test",
       EVAL_AND_VALUES, "unlearning_metrics or heldout"),
    _m("evaluation/unlearning_metrics.py", "if min(n_members, n_non_members) < MIN_SAMPLES_PER_CLASS:",
       "if max(n_members, n_non_members) < MIN_SAMPLES_PER_CLASS:", "tiny-split guard on the larger side",
       EVAL_AND_VALUES, "unlearning_metrics"),
    _m("evaluation/unlearning_metrics.py", 'heldout = "forget_test" if "forget_test" in shadow_logits else "test"',
       'heldout = "test"', "LiRA against test although forget_test exists", [LIRA, DECIDING],
       "unlearning_metrics or lira"),
    _m("evaluation/unlearning_metrics.py", "results[key] = mean_kl_to_gold(gold_logits[split], split_logits[split])",
       "results[key] = mean_kl_to_gold(split_logits[split], gold_logits[split])", "KL arguments swapped",
       [LIRA, EVALUATION, DECIDING], "unlearning_metrics or kl"),
    _m("evaluation/unlearning_metrics.py", 'results["time_share_of_gold"] = float(unlearning_time) / gold_time',
       'results["time_share_of_gold"] = gold_time / float(unlearning_time)', "time share inverted",
       EVAL_AND_VALUES, "unlearning_metrics or time"),
    _m("evaluation/unlearning_metrics.py", "arguments = (test_f1, gold_f1, model_mia, gold_mia, original_mia,",
       "arguments = (test_f1, gold_f1, gold_mia, model_mia, original_mia,", "GUM's MIA arguments swapped",
       EVAL_AND_VALUES, "unlearning_metrics"),
    _m("evaluation/unlearning_metrics.py", 'results[prefix] = None if undefined else result.value',
       'results[prefix] = result.value', "undefined GUM reported", EVAL_AND_VALUES, "unlearning_metrics"),
    _m("evaluation/unlearning_metrics.py", "for reference in (gold, original):", "for reference in (original,):",
       "num_classes not read from gold", EVAL_AND_VALUES, "unlearning_metrics or classes"),
    # --------------------------------------------------------------------------------------- evaluation/lira.py
    _m("evaluation/lira.py", "return true_logit - log_rest", "return log_rest - true_logit", "phi sign flipped",
       [LIRA, DECIDING], "lira"),
    _m("evaluation/lira.py", "variance = shadow.var(axis=0, ddof=1)", "variance = shadow.var(axis=0, ddof=0)",
       "biased shadow variance", [LIRA, DECIDING], "lira"),
    _m("evaluation/lira.py", "return -log_ndtr(-(target - mean) / std)", "return -log_ndtr((target - mean) / std)",
       "one-sided test the wrong way", [LIRA, DECIDING], "lira"),
    _m("evaluation/lira.py", "global_variance = shadow.shape[0] < GLOBAL_VARIANCE_BELOW",
       "global_variance = shadow.shape[0] > GLOBAL_VARIANCE_BELOW", "pooling rule inverted", [LIRA, DECIDING], "lira"),
    _m("evaluation/lira.py", "true_positive_rates[false_positive_rates <= fpr].max()",
       "true_positive_rates[false_positive_rates < fpr].max()", "<= vs < on the FPR budget", [LIRA, DECIDING], "lira"),
    _m("evaluation/lira.py", "np.ones(forget_scores.size, dtype=int), np.zeros(heldout_scores.size, dtype=int)",
       "np.zeros(forget_scores.size, dtype=int), np.ones(heldout_scores.size, dtype=int)",
       "members swapped", [LIRA, DECIDING], "lira"),
    _m("evaluation/lira.py", "tpr_at_5fpr=tpr_at_fpr(members, scores, 0.05)",
       "tpr_at_5fpr=tpr_at_fpr(members, scores, 0.01)",
       "5 % TPR at 1 % FPR", [LIRA, DECIDING], "lira"),
    _m("evaluation/lira.py", "heldout_shadow = logit_scaled_confidence(heldout_shadow, heldout_labels)",
       "heldout_shadow = logit_scaled_confidence(heldout_shadow, forget_labels[: len(heldout_labels)])",
       "held-out shadows scored on the forget labels", [LIRA, DECIDING], "lira"),
    # ----------------------------------------------------------------------------------- benchmark/tuning.py
    _m("benchmark/tuning.py", '"gold_forget_validation_accuracy": gold.get("forget_validation_accuracy")',
       '"gold_forget_validation_accuracy": gold.get("forget_accuracy")', "gold read on the forget TRAINING rows",
       [CAUGHT, DECIDING], "trial_view or tuner"),
    _m("benchmark/tuning.py", '"retain_validation_accuracy": unlearned.get("retain_accuracy")',
       '"retain_validation_accuracy": unlearned.get("test_accuracy")', "utility read on test",
       [CAUGHT, DECIDING], "trial_view or tuner"),
    _m("benchmark/tuning.py", '"num_forget_validation": sizes.get("forget_validation", 0)',
       '"num_forget_validation": sizes.get("forget", 0)', "forget-validation size from the forget rows",
       [CAUGHT, DECIDING], "trial_view or tuner"),
    _m("evaluation/intervals.py", "return max(math.sqrt(max(p * (1 - p), 0.0) / n), 1.0 / n)",
       "return math.sqrt(max(p * (1 - p), 0.0) / n)", "no one-row floor on the standard error",
       [DECIDING], "tuner"),
    _m("benchmark/tuning.py", '"utility_kept": utility_loss <= tolerance', '"utility_kept": utility_loss < tolerance',
       "<= vs < on the utility tolerance", [DECIDING], "tuner"),
    _m("benchmark/tuning.py", 'abs(view["forget_validation_accuracy"] - gold_fv)',
       'abs(view["forget_accuracy"] - gold_fv)', "forgetting score on the forget rows",
       [CAUGHT, DECIDING], "tuner or trial_view"),
    _m("benchmark/tuning.py", "forgetting + UTILITY_WEIGHT * excess", "forgetting - UTILITY_WEIGHT * excess",
       "utility loss rewarded", [DECIDING], "tuner"),
    _m("benchmark/tuning.py", 'fewest = min(c["settings"]["num_train_epochs"] for c in near)',
       'fewest = max(c["settings"]["num_train_epochs"] for c in near)', "longest near-tie wins",
       [DECIDING], "tuner"),
    _m("benchmark/tuning.py", 'near = [c for c in scored if c["score"] <= best + min(c["tie"] for c in scored)]',
       'near = [c for c in scored if c["score"] <= best]', "no near-ties", [DECIDING],
       "tuner"),
    _m("benchmark/tuning.py", "for length in sorted(epochs)\n        for lr in sorted(learning_rates)",
       "for length in sorted(epochs)\n        for lr in sorted(learning_rates)[1:]", "grid drops a learning rate",
       [DECIDING], "tuner or grid"),
    # -------------------------------------------------------------------------------------- experiment/run.py
    _m("experiment/run.py", "**{gap_key(key): unlearned.get(gap_key(key)) for key in RECORD_GAPS}",
       '**{gap_key(key): results["original"].get(gap_key(key)) for key in RECORD_GAPS}',
       "the ORIGINAL's gaps recorded as the unlearned model's", [CAUGHT], "run_request"),
    _m("experiment/run.py", "TIME_SHARE: unlearned.get(TIME_SHARE)",
       'TIME_SHARE: unlearned.get("speedup")', "speed-up recorded as the time share", [CAUGHT],
       "run_request"),
    _m("experiment/run.py", 'unlearned["unlearning_time"] = trainer.unlearning_time\n',
       'unlearned["unlearning_time"] = trainer.unlearning_time * 2\n', "unlearning time misrecorded", [CAUGHT],
       "run_request"),
    _m("experiment/run.py", "original=results[\"original\"], gold=results.get(\"gold\"), unlearning_time=",
       "original=results.get(\"gold\"), gold=results[\"original\"], unlearning_time=",
       "original and gold swapped for the unlearned metrics", [CAUGHT], "run_request"),
    _m("experiment/run.py", '"gold_train_time": gold.get("train_time") if gold else None',
       '"gold_train_time": results["original"].get("train_time") if gold else None', "original's train time as gold's",
       [CAUGHT], "run_request"),
    _m("experiment/run.py", "outputs[name] = (prediction.predictions, prediction.label_ids)",
       "outputs[name] = (evaluation[\"outputs\"][\"original\"][name][0], prediction.label_ids)",
       "the original's logits scored as the unlearned model's", [CAUGHT], "run_request"),
    _m("experiment/run.py", "results[\"gold\"], losses[\"gold\"] = _metrics(\n            outputs[\"gold\"],",
       "results[\"gold\"], losses[\"gold\"] = _metrics(\n            outputs[\"original\"],",
       "gold evaluated with the original's outputs", [CAUGHT], "run_request"),
    # ---------------------------------------------------------------------------------- experiment/results.py
    _m("experiment/results.py", 'if record.get("gold"):\n        rows["gold"] = record["gold"]',
       'if record.get("gold"):\n        rows["gold"] = record["original"]', "gold row holds the original's figures",
       [DECIDING], "results"),
    _m("experiment/results.py", 'rows[record["method"]] = record["unlearned"]',
       'rows[record["method"]] = record["original"]',
       "method row holds the original's figures", [DECIDING], "results"),
    _m("experiment/results.py", 'values["forget_speakers"] = f"<{len(values[\'forget_speakers\'])} speaker(s)>"',
       "pass", "forgotten speakers published", [DECIDING], "results"),
    _m("experiment/results.py", 'runs = [{key: value for key, value in record.items() if key != "losses"}',
       "runs = [{key: value for key, value in record.items()}", "per-sample losses written to results.json",
       [DECIDING], "results"),
    _m("experiment/results.py", 'kind = records[0]["request"].get("kind")', "kind = None",
       "table built without the request kind", [DECIDING], "results"),
    # --------------------------------------------------------------------------------------------- losses.py
    _m("losses.py", 'reduction="none", label_smoothing=label_smoothing', 'reduction="none", label_smoothing=0.0',
       "label smoothing dropped", [LOSSES, DECIDING], "smoothing or kl or npo or l1 or cross"),
    _m("losses.py", "return temperature**2 * F.kl_div(log_q, log_p", "return temperature * F.kl_div(log_q, log_p",
       "T instead of T^2", [LOSSES]),
    _m("losses.py",
       "log_q = F.log_softmax(student_logits.float() / temperature, dim=-1)\n    log_p = F.log_softmax(teacher_logits",
       "log_p = F.log_softmax(student_logits.float() / temperature, dim=-1)\n    log_q = F.log_softmax(teacher_logits",
       "KL direction swapped", [LOSSES]),
    _m("losses.py", "return -2.0 / beta * F.logsigmoid(-beta * log_ratio)",
       "return -2.0 / beta * F.logsigmoid(beta * log_ratio)",
       "NPO sign flipped", [LOSSES]),
    _m("losses.py", "norms = [parameter.abs().sum() for parameter in parameters]",
       "norms = [parameter.square().sum() for parameter in parameters]", "L2 instead of L1", [LOSSES]),
    _m("losses.py", "return (losses - tau) * sigma + lam * torch.log(sigma) ** 2",
       "return (losses - tau) * sigma - lam * torch.log(sigma) ** 2", "SuperLoss regulariser sign",
       ["tests/test_superloss.py"], "superloss and not curriculum_covers"),
    _m("losses.py", 'tau = state["loss_sum"] / state["count"] if state["count"] > 0',
       'tau = batch_sum / max(batch_count, 1.0) if state["count"] > 0', "tau from the batch, not the running mean",
       ["tests/test_superloss.py"], "superloss and not curriculum_covers"),
    _m("losses.py", "target = flags * F.softmax(incompetent_logits",
       "target = (1.0 - flags) * F.softmax(incompetent_logits",
       "Bad Teaching targets swapped", [LOSSES, "tests/test_bad_teaching.py"], "bad_teaching or kl"),
    _m("losses.py", "return -per_sample_loss.float() + l2_weight * squares",
       "return per_sample_loss.float() + l2_weight * squares",
       "UNSIR noise minimises the loss", ["tests/test_unsir.py"], "noise_objective or learnt_noise"),
    _m("losses.py", "squares = squares / valid.sum(dim=dims).clamp_min(1.0)", "squares = squares / noise[0].numel()",
       "padding counted in the mean penalty", ["tests/test_unsir.py"], "noise_objective or learnt_noise"),
    # ------------------------------------------------------------------------------------ methods/*.py losses
    _m("methods/l1_sparse.py", "self.args.retain_weight * retain + self.current_gamma() * l1",
       "self.args.retain_weight * retain + 0 * self.current_gamma() * l1", "L1 term multiplied by 0", METHODS,
       "l1_sparse"),
    _m("methods/l1_sparse.py", "return self.args.l1_gamma * max(0.0, 1.0 - self.state.global_step / max_steps)",
       "return self.args.l1_gamma * max(0.0, self.state.global_step / max_steps)", "gamma grows instead of decaying",
       METHODS, "l1_sparse"),
    _m("methods/neggrad_plus.py", "self.args.retain_weight * retain - self.args.forget_weight * forget",
       "self.args.retain_weight * retain + self.args.forget_weight * forget", "NG+ forget term's sign flipped",
       METHODS, "neggrad"),
    _m("methods/neggrad_plus.py", "self.args.retain_weight * retain - self.args.forget_weight * forget",
       "self.args.forget_weight * retain - self.args.retain_weight * forget", "NG+ weights swapped", METHODS,
       "neggrad"),
    _m("methods/gradient_ascent.py", "loss = -self.args.forget_weight * forget",
       "loss = self.args.forget_weight * forget",
       "gradient descent on forget", METHODS, "gradient_ascent"),
    _m("methods/finetune.py", 'retain = self.side_loss(model, inputs, "retain")\n        return (retain, None)',
       'retain = 0.5 * self.side_loss(model, inputs, "retain")\n        return (retain, None)', "loss halved",
       METHODS, "finetune"),
    _m("methods/npo.py", "logp_theta = -self.per_sample_loss(model, forget_batch, \"forget\")[0]",
       "logp_theta = self.per_sample_loss(model, forget_batch, \"forget\")[0]", "NPO log-likelihood sign", METHODS,
       "npo"),
    _m("methods/npo.py", "loss = loss + self.args.retain_weight * retain",
       "loss = loss - self.args.retain_weight * retain",
       "NPO ascends on retain", METHODS, "npo"),
    _m("methods/random_labels.py", 'self.side_loss(model, inputs, "forget", labels_key=RANDOM_LABELS)',
       'self.side_loss(model, inputs, "forget")', "true labels instead of random ones", METHODS, "random_labels"),
    _m("methods/random_labels.py", 'loss = self.args.retain_weight * self.side_loss(model, inputs, "retain")',
       'loss = -self.args.retain_weight * self.side_loss(model, inputs, "retain")', "ascent on retain", METHODS,
       "random_labels"),
    _m("methods/scrub.py", "loss = -forget_kl", "loss = forget_kl", "SCRUB max step minimises", METHODS, "scrub"),
    _m("methods/scrub.py", "loss = self.args.gamma * retain_ce + self.args.alpha * retain_kl",
       "loss = self.args.alpha * retain_ce + self.args.gamma * retain_kl", "SCRUB gamma and alpha swapped", METHODS,
       "scrub"),
    _m("methods/bad_teaching.py", "(\"forget\", forget_rows, trainer.args.forget_weight),",
       "(\"forget\", forget_rows, trainer.args.retain_weight),", "forget rows weighted by retain_weight", METHODS,
       "bad_teaching"),
    _m("methods/bad_teaching.py", "per_sample = bad_teaching_kl(student, competent, incompetent, flags",
       "per_sample = bad_teaching_kl(student, incompetent, competent, flags", "teachers swapped", METHODS,
       "bad_teaching"),
    _m("methods/bad_teaching_lite.py", "target = torch.where(forget_rows[:, None], noise, target)",
       "target = torch.where(forget_rows[:, None], target, noise)", "noise on the retain rows", METHODS,
       "bad_teaching_lite"),
    _m("methods/unsir.py", "loss = self.args.forget_weight * noise_loss + self.args.retain_weight * retain",
       "loss = self.args.retain_weight * retain", "noise term dropped", METHODS, "unsir"),
    _m("methods/cf_k.py", 'retain = self.side_loss(model, inputs, "retain")\n        return (retain, None)',
       'retain = -self.side_loss(model, inputs, "retain")\n        return (retain, None)', "CF-k ascends on retain",
       METHODS, "cf_k"),
    _m("methods/cf_k.py", "        self._hold_frozen_modules(model)\n", "", "frozen blocks left in train mode",
       ["tests/test_methods.py", "tests/test_batchnorm.py"], "cf_k"),
    _m("methods/eu_k.py", "reinit: bool = field(default=True", "reinit: bool = field(default=False",
       "EU-k without its re-initialisation", ["tests/test_methods.py"], "eu_k_is_cf_k"),
    _m("methods/reset_perturb.py", 'retain = self.side_loss(model, inputs, "retain")',
       'retain = -self.side_loss(model, inputs, "retain")', "reset_perturb ascends on retain", METHODS,
       "reset_perturb"),
    _m("methods/salun.py", "top_share_mask(self.forget_gradients(), self.args.threshold)",
       "top_share_mask(self.forget_gradients(), 1 - self.args.threshold)", "complement of the salient share",
       ["tests/test_salun.py", DECIDING], "salun and not two_processes"),
    _m("methods/salun.py", "(weight * per_sample.sum()).backward()", "(weight * per_sample.mean()).backward()",
       "saliency from per-batch means", ["tests/test_salun.py", DECIDING], "salun and not two_processes"),
    # ------------------------------------------------------------------------------------------ data/splits.py
    _m("data/splits.py", "is_forget = np.isin(np.asarray(train[label_column]), ids)",
       "is_forget = ~np.isin(np.asarray(train[label_column]), ids)", "class request forgets the other classes",
       [SPLITS]),
    _m("data/splits.py", "is_forget = np.isin(speakers, values)", "is_forget = np.isin(speakers, values[:0])",
       "speaker request forgets nobody", [SPLITS]),
    _m("data/splits.py",
       "retain_eval_idx, retain_idx = sorted(shuffled[:n_eval].tolist()), sorted(shuffled[n_eval:].tolist())",
       "retain_eval_idx, retain_idx = sorted(shuffled[:n_eval].tolist()), sorted(shuffled.tolist())",
       "retain_eval rows also trained on", [SPLITS]),
    _m("data/splits.py", "n_eval = int(round(retain_eval_size * len(kept)))",
       "n_eval = int(round(retain_eval_size * len(train)))",
       "retain_eval share of the whole training set", [SPLITS, DECIDING]),
    _m("data/splits.py", "test=test.select(np.flatnonzero(~is_forget_test).tolist())",
       "test=test.select(np.arange(len(test)).tolist())", "test keeps the forgotten class", [SPLITS]),
    _m("data/splits.py", "forget_idx = sorted(rng.choice(len(train), size=n_forget, replace=False))",
       "forget_idx = sorted(rng.choice(len(train), size=n_forget, replace=True))", "sample request with replacement",
       [SPLITS]),
    _m("data/splits.py", "n_forget = max(1, int(round(fraction * len(train))))",
       "n_forget = max(1, int(fraction * len(train)) - 1)", "off-by-one in the sample size", [SPLITS]),
    _m("data/splits.py", "        if total >= target:\n            return chosen",
       "        if total > target:\n            return chosen", ">= vs > on the speaker share", [SPLITS, DECIDING]),
    _m("data/splits.py", "            if {first, second} == {\"test\", \"forget_test\"}:\n                continue",
       "            if first in (\"test\", \"forget_test\"):\n                continue",
       "group check skips test pairs",
       [SPLITS, DECIDING]),
    # ---------------------------------------------------------------------------------- data/request_splits.py
    _m("data/request_splits.py",
       "held, rest = sorted(pool[order[:count]].tolist()), sorted(pool[order[count:]].tolist())",
       "held, rest = sorted(pool[order[:count]].tolist()), sorted(pool.tolist())", "validation rows also trained on",
       [SPLITS], "request"),
    _m("data/request_splits.py", "splits.retain_eval = validation.select(kept)", "splits.retain_eval = validation",
       "retain-validation holds the forgotten class", [SPLITS, DECIDING], "request"),
    _m("data/request_splits.py", "splits.forget_indices = [rest[i] for i in splits.forget_indices]",
       "splits.forget_indices = list(splits.forget_indices)", "indices left in the reduced numbering",
       [SPLITS], "request"),
    _m("data/request_splits.py", "splits.retain_eval_indices = [held[i] for i in kept]",
       "splits.retain_eval_indices = [rest[i] for i in kept]", "retain-validation indices from the wrong pool",
       [SPLITS], "request"),
    _m("data/request_splits.py", "count = int(round(validation_size * len(pool)))",
       "count = int(validation_size * len(pool)) + 1",
       "off-by-one in the validation size", [SPLITS, DECIDING], "request"),
    _m("data/request_splits.py", 'if splits.kind == "class":', 'if splits.kind == "sample":',
       "class requests get no forget-validation", [SPLITS, DECIDING], "request"),
    _m("data/request_splits.py", "order = np.random.default_rng(seed).permutation(len(pool))",
       "order = np.random.default_rng(seed + 1).permutation(len(pool))", "validation drawn with another seed than the "
       "benchmark's", [SPLITS], "request"),
)  # fmt: skip


def check_table(root: str = ROOT) -> list[str]:
    """Problems with the table against the sources under `root` (empty when every snippet occurs exactly once, each
    replacement differs from its snippet and every test file exists)."""
    problems = []
    for mutant in MUTANTS:
        path = os.path.join(root, mutant.module)
        if not os.path.isfile(path):
            problems.append(f"{mutant.module}: no such file")
            continue
        with open(path, encoding="utf-8") as handle:
            count = handle.read().count(mutant.original)
        if count != 1:
            problems.append(f"{mutant.module}: snippet found {count} times: {mutant.original!r}")
        if mutant.replacement == mutant.original:
            problems.append(f"{mutant.module}: replacement equals the snippet: {mutant.original!r}")
        for test in mutant.tests:
            if not os.path.isfile(os.path.join(root, test.split("::")[0])):
                problems.append(f"{mutant.module}: test file {test} does not exist")
    return problems
