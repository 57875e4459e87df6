"""Pictures (matplotlib, the optional ``plot`` extra): learning curves of a fitted model and
metric@k curves comparing models. Every function draws on an Axes (a new figure when none is given)
and, with ``path``, writes a PNG; nothing needs a display."""

from __future__ import annotations

import numpy as np


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)  # headless unless a GUI backend is already in use
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("aerec.plot needs matplotlib: pip install 'aerec[plot]'") from exc
    return plt


def _finish(fig, path):
    if path is not None:
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    return fig


def plot_learning_curve(model, ax=None, path=None):
    """Training loss per epoch and, when recorded, the validation metric with the best epoch marked."""
    if not getattr(model, "loss_curve_", None):
        raise ValueError("the model has no loss_curve_: fit it first")
    plt = _pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(model.loss_curve_) + 1)
    ax.plot(epochs, model.loss_curve_, color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="tab:blue")
    scores = getattr(model, "validation_scores_", None)
    if scores:
        name = "validation NDCG@100" if getattr(model, "_implicit", True) else "validation RMSE"
        ax2 = ax.twinx()
        ax2.plot(np.arange(1, len(scores) + 1), scores, color="tab:orange", label=name)
        ax2.set_ylabel(name, color="tab:orange")
        best = getattr(model, "best_epoch_", None)
        if best is not None:
            ax2.axvline(best + 1, color="grey", linestyle="--", linewidth=1)
            ax2.annotate(f"best epoch {best + 1}", (best + 1, scores[best]), textcoords="offset points",
                         xytext=(5, -12), fontsize=8)
    ax.set_title(type(model).__name__)
    return _finish(fig, path)


def plot_metric_at_k(results, metric="ndcg", ax=None, path=None):
    """One curve per model of ``metric@k`` over the k present in ``results``.

    results : {model name: dict from aerec.metrics.evaluate_rankings}
    """
    plt = _pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    for name, m in results.items():
        ks = sorted(int(key.split("@")[1]) for key in m if key.startswith(metric + "@") and not key.endswith("_se"))
        if not ks:
            raise ValueError(f"{name}: no {metric}@k values in the results")
        vals = [m[f"{metric}@{k}"] for k in ks]
        errs = [m.get(f"{metric}@{k}_se", 0.0) for k in ks]
        ax.errorbar(ks, vals, yerr=errs, marker="o", capsize=3, label=name)
    ax.set_xlabel("k")
    ax.set_ylabel(f"{metric}@k")
    ax.legend()
    ax.grid(alpha=0.3)
    return _finish(fig, path)
