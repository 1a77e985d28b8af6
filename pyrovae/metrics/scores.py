"""Every disentanglement metric of one set of codes, by name."""

from __future__ import annotations

import torch

from pyrovae.metrics.beta_vae import beta_vae_score
from pyrovae.metrics.dci_metric import dci
from pyrovae.metrics.factor_vae import factor_vae_score
from pyrovae.metrics.inputs import check_inputs
from pyrovae.metrics.mig_metric import mig
from pyrovae.metrics.sap_metric import sap

#: The metrics :func:`disentanglement` computes, in order (the ``estimator`` of their rows).
METRIC_NAMES = ("mig", "beta_vae_score", "factor_vae_score", "dci_disentanglement",
                "dci_completeness", "dci_informativeness", "sap")


def disentanglement(codes: torch.Tensor, factors: torch.Tensor, *, seed: int = 0,
                    bins: int = 20) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` of ``codes`` ``[N, D]`` against the ``factors``
    ``[N, K]`` (class indices), each with its default parameters.

    :param seed: seed of the metrics' local generators (votes and train/held-out splits).
    :param bins: bins per code of MIG's discretization and SAP's classifiers.
    """
    codes, factors = check_inputs(codes, factors, min_codes=2, min_points=4)
    scores = {"mig": mig(codes, factors, bins=bins),
              "beta_vae_score": beta_vae_score(codes, factors, seed=seed),
              "factor_vae_score": factor_vae_score(codes, factors, seed=seed),
              **dci(codes, factors, seed=seed),
              "sap": sap(codes, factors, bins=bins, seed=seed)}
    return {name: scores[name] for name in METRIC_NAMES}
