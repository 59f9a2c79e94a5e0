r"""GUM and CGUM: one number that weighs utility, forgetting efficacy and time against the gold model.

- GUM (Global Unlearning Metric): UnSLU-BENCH, Koudounas et al., "'Alexa, can you forget me?' Machine Unlearning
  Benchmark on Spoken Language Understanding", Interspeech 2025; reproduced from the released code.
- CGUM (Calibrated GUM): UnSLU-BENCH+, the extended journal version of the same benchmark. It rescales utility
  against chance (1 / number of classes), measures efficacy relative to how far the original model was from the gold
  model, and clips every term to [0, 1].

Both combine the three terms with the same weighted harmonic mean (alpha = beta = 1 gives the plain harmonic mean):

$$\mathrm{GUM} = \frac{(\alpha + \beta + 1)\, U E T}{\alpha E T + \beta U T + U E + \epsilon},
\qquad \epsilon = 10^{-6}$$

so any term at 0 sends the whole score to 0, and the maximum is (just under) 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

__all__ = ["EPS", "GUMResult", "cgum", "gum", "gum_undefined_reason", "speedup"]

#: The epsilon of the released code, in every denominator of GUM and CGUM.
EPS = 1e-6


@dataclass(frozen=True)
class GUMResult:
    """Outcome of `gum` or `cgum`.

    Args:
        value (`float`):
            The combined score; `float(result)` returns it. Higher is better.
        U (`float`):
            Utility term (test macro-F1 against the gold model).
        E (`float`):
            Efficacy term (MIA against the gold model).
        T (`float`):
            Time term (unlearning time against the gold model's retraining time).
    """

    value: float
    U: float
    E: float
    T: float

    def __float__(self) -> float:
        return float(self.value)


def _check_number(name: str, value) -> float:
    if not isinstance(value, Real) or isinstance(value, bool):
        raise ValueError(f"{name} must be a real number; got {value!r}.")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} is NaN.")
    return value


def _check_unit(name: str, value) -> float:
    value = _check_number(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] (a fraction, not a percentage); got {value}.")
    return value


def _check_times(t_unl, t_gold) -> tuple[float, float]:
    t_unl = _check_number("t_unl", t_unl)
    t_gold = _check_number("t_gold", t_gold)
    if t_unl < 0 or math.isinf(t_unl):
        raise ValueError(f"t_unl (unlearning time in seconds) must be finite and >= 0; got {t_unl}.")
    if t_gold <= 0 or math.isinf(t_gold):
        raise ValueError(f"t_gold (gold retraining time in seconds) must be finite and > 0; got {t_gold}.")
    return t_unl, t_gold


def _harmonic(U: float, E: float, T: float, alpha: float, beta: float) -> float:
    return (alpha + beta + 1) * U * E * T / (alpha * E * T + beta * U * T + U * E + EPS)


def _clip01(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def gum(
    f1_unl: float,
    f1_gold: float,
    mia_unl: float,
    mia_gold: float,
    mia_full: float,
    t_unl: float,
    t_gold: float,
    alpha: float = 1,
    beta: float = 1,
    clip_time: bool = True,
) -> GUMResult:
    r"""Global Unlearning Metric of UnSLU-BENCH (Interspeech 2025), as in the released code.

    The MIA values are first clamped so that the efficacy ratio stays in [-1, 1]:

    $$\mathrm{MIA}_{unl} \leftarrow \min(\mathrm{MIA}_{unl}, \mathrm{MIA}_{full}), \qquad
    \mathrm{MIA}_{gold} \leftarrow
    \min\Big(\frac{\mathrm{MIA}_{unl} + \mathrm{MIA}_{full}}{2}, \mathrm{MIA}_{gold}\Big)$$

    then

    $$E = 1 - \Big(\frac{\mathrm{MIA}_{unl} - \mathrm{MIA}_{gold}}
    {\max(\mathrm{MIA}_{full}, \mathrm{MIA}_{unl}) - \mathrm{MIA}_{gold}}\Big)^2, \qquad
    U = 1 - |F1_{unl} - F1_{gold}|, \qquad T = 1 - \frac{\ln(t_{unl} + 1)}{\ln(t_{gold} + 1)}$$

    $$\mathrm{GUM} = \frac{(\alpha + \beta + 1)\, U E T}{\alpha E T + \beta U T + U E + 10^{-6}}$$

    After the clamping $E \in [0, 1]$ and $U \in [0, 1]$. The released code does not clip $T$: it is negative when
    unlearning takes longer than retraining, and GUM then loses its meaning as a harmonic mean (a slow run could score
    below 0). By default $T$ is clipped to $[0, 1]$ as in `cgum`, which changes nothing while $t_{unl} \le t_{gold}$;
    `clip_time=False` gives the released code's value everywhere.

    Both times must be measured the same way, e.g. the training loop alone (no evaluation, checkpointing or
    early-stopping patience epochs in either), or $T$ compares different things.

    Where it is defined: the efficacy term assumes $\mathrm{MIA}_{gold} < \mathrm{MIA}_{full}$ (unlearning should lower
    the MIA). When the gold model's MIA is at or above the original's, the clamping turns $E$ into a step (1 when
    $\mathrm{MIA}_{unl} \ge \mathrm{MIA}_{full}$, i.e. for a model that did nothing, else 0). This function still
    returns that value, for reproducibility; `unlearning_metrics` and the reports show GUM and CGUM as undefined then.

    Full equals gold: the efficacy denominator $\mathrm{MIA}_{full} - \mathrm{MIA}_{gold}$ is zero only when, after
    the clamping, $\mathrm{MIA}_{unl} = \mathrm{MIA}_{gold} = \mathrm{MIA}_{full}$ (a smaller $\mathrm{MIA}_{unl}$
    pulls $\mathrm{MIA}_{gold}$ below $\mathrm{MIA}_{full}$). The unlearned model then sits exactly at the gold
    value, so this function uses $E = 1$ instead of dividing 0 by 0.

    Args:
        f1_unl (`float`):
            Test macro-F1 of the unlearned model, in [0, 1].
        f1_gold (`float`):
            Test macro-F1 of the gold (retrained) model, in [0, 1].
        mia_unl (`float`):
            MIA score of the unlearned model, in [0, 1].
        mia_gold (`float`):
            MIA score of the gold model, in [0, 1].
        mia_full (`float`):
            MIA score of the original model trained on the full training set, in [0, 1].
        t_unl (`float`):
            Unlearning time in seconds, >= 0.
        t_gold (`float`):
            Gold retraining time in seconds, > 0.
        alpha (`float`, *optional*, defaults to 1):
            Weight of the utility term.
        beta (`float`, *optional*, defaults to 1):
            Weight of the efficacy term.
        clip_time (`bool`, *optional*, defaults to `True`):
            Clip $T$ to $[0, 1]$ (as `cgum` does). `False` reproduces the released code for runs slower than
            retraining too.

    Returns:
        [`GUMResult`]: `value` (higher is better, at most 1), `U`, `E`, `T`.

    Raises:
        `ValueError`: on NaN, an F1 or MIA outside [0, 1], a negative `t_unl` or a `t_gold` that is not > 0.
    """
    f1_unl, f1_gold = _check_unit("f1_unl", f1_unl), _check_unit("f1_gold", f1_gold)
    mia_unl, mia_gold, mia_full = (
        _check_unit("mia_unl", mia_unl),
        _check_unit("mia_gold", mia_gold),
        _check_unit("mia_full", mia_full),
    )
    t_unl, t_gold = _check_times(t_unl, t_gold)
    alpha, beta = _check_number("alpha", alpha), _check_number("beta", beta)

    mia_unl = min(mia_unl, mia_full)
    mia_gold = min((mia_unl + mia_full) / 2, mia_gold)
    denominator = max(mia_full, mia_unl) - mia_gold
    if denominator == 0:
        # Only reachable with mia_unl == mia_gold == mia_full (see docstring): the model is at the gold value.
        E = 1.0
    else:
        E = 1 - ((mia_unl - mia_gold) / denominator) ** 2
    U = 1 - abs(f1_unl - f1_gold)
    T = 1 - math.log(t_unl + 1) / math.log(t_gold + 1)
    if clip_time:
        T = _clip01(T)
    return GUMResult(value=_harmonic(U, E, T, alpha, beta), U=U, E=E, T=T)


def cgum(
    f1_unl: float,
    f1_gold: float,
    mia_unl: float,
    mia_gold: float,
    mia_orig: float,
    t_unl: float,
    t_gold: float,
    num_classes: int,
    alpha: float = 1,
    beta: float = 1,
) -> GUMResult:
    r"""Calibrated Global Unlearning Metric of UnSLU-BENCH+.

    $$U = \mathrm{clip}\Big(\frac{F1_{unl} - 1/C}{F1_{gold} - 1/C + \epsilon}, 0, 1\Big)$$

    Utility above chance ($1/C$), relative to the gold model's; matching or beating gold gives 1.

    $$\mathrm{MIA}_{sat} = \begin{cases} \min(\mathrm{MIA}_{unl}, \mathrm{MIA}_{orig}) &
    \mathrm{MIA}_{orig} \ge \mathrm{MIA}_{gold} \\ \max(\mathrm{MIA}_{unl}, \mathrm{MIA}_{orig}) & \text{otherwise}
    \end{cases}, \qquad
    E = \mathrm{clip}\Big(1 - \frac{|\mathrm{MIA}_{sat} - \mathrm{MIA}_{gold}|}
    {|\mathrm{MIA}_{orig} - \mathrm{MIA}_{gold}| + \epsilon}, 0, 1\Big)$$

    Efficacy is the share of the original-to-gold MIA distance that unlearning closed; moving away from gold on the
    far side of the original model counts as no progress (the saturation), overshooting gold by the whole distance
    counts as 0. When the original model's MIA equals the gold model's, $E$ is 1 at the gold value and 0 elsewhere
    (up to $\epsilon$).

    $$T = \mathrm{clip}\Big(1 - \frac{\ln(t_{unl} + 1)}{\ln(t_{gold} + 1) + \epsilon}, 0, 1\Big), \qquad
    \mathrm{CGUM} = \frac{(\alpha + \beta + 1)\, U E T}{\alpha E T + \beta U T + U E + \epsilon}, \quad
    \epsilon = 10^{-6}$$

    Args:
        f1_unl (`float`):
            Test macro-F1 of the unlearned model, in [0, 1].
        f1_gold (`float`):
            Test macro-F1 of the gold (retrained) model, in [0, 1].
        mia_unl (`float`):
            MIA score of the unlearned model, in [0, 1].
        mia_gold (`float`):
            MIA score of the gold model, in [0, 1].
        mia_orig (`float`):
            MIA score of the original model, in [0, 1].
        t_unl (`float`):
            Unlearning time in seconds, >= 0.
        t_gold (`float`):
            Gold retraining time in seconds, > 0.
        num_classes (`int`):
            Number of classes $C$ of the task (>= 2); $1/C$ is the chance level of the utility term.
        alpha (`float`, *optional*, defaults to 1):
            Weight of the utility term.
        beta (`float`, *optional*, defaults to 1):
            Weight of the efficacy term.

    Returns:
        [`GUMResult`]: `value` in [0, 1) (higher is better), `U`, `E`, `T`, each in [0, 1].

    Raises:
        `ValueError`: on NaN, an F1 or MIA outside [0, 1], a negative `t_unl`, a `t_gold` that is not > 0 or
        `num_classes` < 2.
    """
    f1_unl, f1_gold = _check_unit("f1_unl", f1_unl), _check_unit("f1_gold", f1_gold)
    mia_unl, mia_gold, mia_orig = (
        _check_unit("mia_unl", mia_unl),
        _check_unit("mia_gold", mia_gold),
        _check_unit("mia_orig", mia_orig),
    )
    t_unl, t_gold = _check_times(t_unl, t_gold)
    alpha, beta = _check_number("alpha", alpha), _check_number("beta", beta)
    if isinstance(num_classes, bool) or not isinstance(num_classes, Real) or num_classes != int(num_classes):
        raise ValueError(f"num_classes must be an integer; got {num_classes!r}.")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 (1/num_classes is the chance level); got {num_classes}.")

    chance = 1 / int(num_classes)
    U = _clip01((f1_unl - chance) / (f1_gold - chance + EPS))
    mia_sat = min(mia_unl, mia_orig) if mia_orig >= mia_gold else max(mia_unl, mia_orig)
    E = _clip01(1 - abs(mia_sat - mia_gold) / (abs(mia_orig - mia_gold) + EPS))
    T = _clip01(1 - math.log(t_unl + 1) / (math.log(t_gold + 1) + EPS))
    return GUMResult(value=_harmonic(U, E, T, alpha, beta), U=U, E=E, T=T)


def gum_undefined_reason(mia_gold: float, mia_orig: float) -> str | None:
    r"""Why GUM and CGUM are undefined for these reference MIAs, or `None` when they are defined.

    Both efficacy terms measure progress from the original model's MIA down to the gold model's. When
    $\mathrm{MIA}_{gold} \ge \mathrm{MIA}_{orig}$ there is no such progress to measure: GUM's clamping makes $E$ a
    step that rewards a model left unchanged, and CGUM's $E$ rewards moving the loss-based MIA towards a value the
    gold model reaches only by not knowing the forgotten data (class and speaker requests, small forget sets). The
    scores then say nothing about forgetting, so the reports show them as undefined.

    Args:
        mia_gold (`float`):
            MIA of the gold model.
        mia_orig (`float`):
            MIA of the original model.

    Returns:
        `str` or `None`: a one-line reason, naming both values.
    """
    if mia_gold >= mia_orig:
        return (
            f"GUM/CGUM undefined: the gold model's MIA ({mia_gold:.3f}) is not below the original's ({mia_orig:.3f}), "
            "so their efficacy term cannot measure forgetting."
        )
    return None


def speedup(t_unl: float, t_gold: float) -> float:
    r"""How many times faster unlearning is than retraining the gold model.

    $$\mathrm{speed\text{-}up} = \frac{t_{gold}}{t_{unl}}$$

    The UnSLU-BENCH tables imply this definition (gold retraining time divided by unlearning time; > 1 means faster
    than retraining, higher is better).

    Args:
        t_unl (`float`):
            Unlearning time in seconds, >= 0. `t_unl == 0` returns `math.inf`.
        t_gold (`float`):
            Gold retraining time in seconds, > 0.

    Returns:
        `float`: the speed-up, in (0, inf].

    Raises:
        `ValueError`: on NaN, a negative `t_unl` or a `t_gold` that is not > 0.
    """
    t_unl, t_gold = _check_times(t_unl, t_gold)
    if t_unl == 0:
        return math.inf
    return t_gold / t_unl
