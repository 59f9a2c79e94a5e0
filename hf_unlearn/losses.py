"""Pure loss functions on tensors. Each docstring states the equation it computes.

Conventions: `logits` is (N, C), `labels` is (N,) of class ids; "per-sample" functions return (N,) and the caller
reduces, so that weighting schemes (e.g. a curriculum) can act per sample.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def per_sample_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of each sample: `l_i = -log softmax(z_i)[y_i]`; with label smoothing `e`,
    `l_i = -(1 - e) log softmax(z_i)[y_i] - e/C sum_c log softmax(z_i)[c]`."""
    return F.cross_entropy(logits.float(), labels.long(), reduction="none", label_smoothing=label_smoothing)


def per_sample_kl_with_temperature(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Per-sample distillation KL at temperature `T`: `L_i = T^2 * KL(softmax(t_i / T) || softmax(s_i / T))`
    `= T^2 * sum_c p_ic (log p_ic - log q_ic)`, `p = softmax(t / T)`, `q = softmax(s / T)`. Its mean is
    [`kl_with_temperature`]; per sample, a curriculum can re-weight it (MU-Bench passes SCRUB's and Bad Teaching's KL
    through its SuperLoss)."""
    log_q = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    return temperature**2 * F.kl_div(log_q, log_p, log_target=True, reduction="none").sum(dim=-1)


def kl_with_temperature(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Distillation KL at temperature `T`, batch mean (Hinton et al. 2015; SCRUB, Bad Teaching):

    `L = T^2 * 1/N * sum_i KL(softmax(t_i / T) || softmax(s_i / T))`
    `  = T^2 * 1/N * sum_i sum_c p_ic (log p_ic - log q_ic)`, with `p = softmax(t / T)`, `q = softmax(s / T)`.

    The `T^2` factor keeps gradient magnitudes comparable across temperatures. The teacher side carries no gradient
    only if the caller computed `teacher_logits` under `torch.no_grad()`.
    """
    return per_sample_kl_with_temperature(student_logits, teacher_logits, temperature).mean()


def npo_loss(logp_theta: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """Negative Preference Optimization loss (Zhang et al. 2024, eq. 3), batch mean:

    `L = -2/beta * 1/N * sum_i log sigmoid(-beta * (log p_theta(y_i|x_i) - log p_ref(y_i|x_i)))`.

    At `logp_theta == logp_ref` it equals `2/beta * log 2`; it tends to 0 as `logp_theta -> -inf` (bounded below,
    unlike gradient ascent), and to `2 * (logp_theta - logp_ref)` as `beta -> 0`.
    """
    return npo_per_sample(logp_theta, logp_ref, beta).mean()


def npo_per_sample(logp_theta: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-sample NPO loss, `L_i = -2/beta * log sigmoid(-beta * (log p_theta(y_i|x_i) - log p_ref(y_i|x_i)))`, whose
    mean is [`npo_loss`] (per sample, a curriculum can re-weight it, as MU-Bench does)."""
    log_ratio = logp_theta.float() - logp_ref.float()
    return -2.0 / beta * F.logsigmoid(-beta * log_ratio)


def l1_penalty(parameters) -> torch.Tensor:
    """L1 norm of a set of parameters: `||w||_1 = sum_j |w_j|` over every tensor in `parameters`."""
    norms = [parameter.abs().sum() for parameter in parameters]
    if not norms:
        raise ValueError("l1_penalty needs at least one parameter.")
    return torch.stack([norm.float() for norm in norms]).sum()


def superloss_confidence(losses: torch.Tensor, tau: float, lam: float) -> torch.Tensor:
    """Optimal SuperLoss confidences (Castells et al., "SuperLoss: A Generic Loss for Robust Curriculum Learning",
    NeurIPS 2020, Sec. 3, closed form of the minimiser), one per sample, without gradient:

    `sigma*_i = exp(-W(0.5 * max(-2/e, (l_i - tau) / lambda)))`,

    with `W` the principal branch of the Lambert W function (`scipy.special.lambertw`, real part). `sigma* = 1` at
    `l_i = tau`, `sigma* > 1` for easy samples (`l_i < tau`, at most `e`), `sigma* < 1` for hard ones; it is decreasing
    in `l_i`, and tends to 1 as `lambda -> inf`. Computed in float64 on the CPU, returned on `losses`' device.
    """
    from scipy.special import lambertw

    if not lam > 0:
        raise ValueError(f"The SuperLoss lambda must be positive, got {lam}.")
    scaled = (losses.detach().double().cpu().numpy() - float(tau)) / float(lam)
    # The clamp at -2/e keeps the argument of W at or above -1/e, where the principal branch is real. At the branch
    # point itself W(-1/e) = -1 exactly, set by hand: scipy returns NaN there.
    at_branch_point = scaled <= -2.0 / np.e
    argument = 0.5 * np.where(at_branch_point, 0.0, scaled)
    w = np.where(at_branch_point, -1.0, lambertw(argument, k=0).real)
    sigma = np.exp(-w)
    return torch.from_numpy(sigma).to(device=losses.device, dtype=losses.dtype)


def superloss(losses: torch.Tensor, tau: float, lam: float) -> torch.Tensor:
    """Per-sample SuperLoss (Castells et al., NeurIPS 2020, Sec. 3), at the optimal confidence:

    `SL_i = (l_i - tau) * sigma*_i + lambda * (log sigma*_i)^2`, with `sigma*_i` from [`superloss_confidence`].

    `sigma*` is a constant (detached), as in the paper: the gradient is `sigma*_i * dl_i/dtheta`, i.e. each sample's
    loss gradient re-weighted by its confidence. `tau` is the threshold separating easy from hard samples (the caller
    keeps it, e.g. as a running mean of the loss). Returns the (N,) per-sample values; the caller reduces them.
    """
    sigma = superloss_confidence(losses, tau, lam)
    return (losses - tau) * sigma + lam * torch.log(sigma) ** 2


def superloss_curriculum(per_sample: torch.Tensor, state: dict, lam: float, global_sum) -> torch.Tensor:
    """Per-sample SuperLoss `(l_i - tau) * sigma*_i + lambda * (log sigma*_i)^2` ([`superloss`]; the caller reduces it)
    with a running threshold: `tau` is the cumulative mean loss over all previous batches of all processes, as
    MU-Bench's SuperLoss (`mode="avg"`; the SuperLoss paper uses `log C` or an exponential moving average); the first
    batch uses its own mean.

    `state` (`{"loss_sum", "count", "tau"}`, plain floats so that a checkpoint can hold it) is updated in place with
    the batch's loss sum and count, summed over processes by `global_sum` (a function summing a tensor over processes,
    e.g. `lambda t: accelerator.reduce(t, reduction="sum")`), so every process uses the same `tau`. It is a collective
    operation: every process must call it the same number of times.

    Deviations from MU-Bench: its running count adds up the confidences rather than the samples (we count samples),
    and it minimises `sigma* * l` instead of the full SuperLoss (same gradient, since `sigma*` and `tau` are
    constants).
    """
    losses = per_sample.detach().float()
    batch = torch.stack([losses.sum(), torch.tensor(float(losses.numel()), device=losses.device)])
    batch_sum, batch_count = global_sum(batch).tolist()
    state.setdefault("loss_sum", 0.0)
    state.setdefault("count", 0.0)
    tau = state["loss_sum"] / state["count"] if state["count"] > 0 else batch_sum / max(batch_count, 1.0)
    state["loss_sum"] += batch_sum
    state["count"] += batch_count
    state["tau"] = tau  # the threshold used for this batch, for inspection
    return superloss(per_sample, tau, lam)


def bad_teaching_kl(
    student_logits: torch.Tensor,
    competent_logits: torch.Tensor,
    incompetent_logits: torch.Tensor,
    forget_flags: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Per-sample Bad Teaching loss (Chundawat et al., AAAI 2023; the authors' `UnlearnerLoss`):

    `L_i = KL(p_i || q_i) = sum_c p_ic (log p_ic - log q_ic)`, with the student `q_i = softmax(s_i / T)` and the
    target `p_i = l_i * softmax(u_i / T) + (1 - l_i) * softmax(c_i / T)`, where `u` are the incompetent teacher's
    logits, `c` the competent (original) teacher's and `l_i` = 1 for a forget row, 0 for a retain row. With `l_i` in
    {0, 1} this is the paper's `(1 - l_i) KL(T_s || S) + l_i KL(T_d || S)`. Returns the (N,) values; the caller
    reduces them. No `T^2` factor, as in the paper.
    """
    flags = forget_flags.to(student_logits.device).float().unsqueeze(-1)
    target = flags * F.softmax(incompetent_logits.float() / temperature, dim=-1)
    target = target + (1.0 - flags) * F.softmax(competent_logits.float() / temperature, dim=-1)
    log_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    # xlogy: 0 * log 0 = 0 where a teacher probability underflows.
    return (torch.xlogy(target, target) - target * log_student).sum(dim=-1)


def unsir_noise_objective(
    per_sample_loss: torch.Tensor,
    noise: torch.Tensor,
    valid: torch.Tensor | None = None,
    l2_weight: float = 0.1,
    penalty: str = "mean",
) -> torch.Tensor:
    """Per-noise objective that UNSIR's error-maximising noise minimises (Tarun et al., IEEE TNNLS 2023: maximise the
    frozen model's loss on the noise w.r.t. the forget label, with a norm penalty weighted by `lambda`):

    `J_k = -L(f(n_k), y_k) + lambda * P(n_k)`, with `L` the model's per-sample loss (cross-entropy) of noise `n_k`
    against its forget label `y_k`, and `P(n_k) = 1/|V_k| * sum_{j in V_k} n_kj^2` (`penalty="mean"`) or
    `sum_{j in V_k} n_kj^2` (`penalty="sum"`: the authors' notebook, `-CE + 0.1 * mean_k sum_j n_kj^2`), over the
    valid (non-padding) positions `V_k` (all positions when `valid` is None). Returns the (K,) values: summing them
    keeps each noise's gradient independent of the others.
    """
    if penalty not in ("mean", "sum"):
        raise ValueError(f"penalty must be 'mean' or 'sum', got {penalty!r}.")
    if valid is None:
        valid = torch.ones_like(noise, dtype=torch.bool)
    valid = valid.expand_as(noise).float()
    dims = tuple(range(1, noise.dim()))
    squares = (noise.float().square() * valid).sum(dim=dims)
    if penalty == "mean":
        squares = squares / valid.sum(dim=dims).clamp_min(1.0)
    return -per_sample_loss.float() + l2_weight * squares
