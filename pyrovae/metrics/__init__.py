"""Disentanglement metrics of codes (e.g. posterior means) against known generative factors,
in torch: MIG, the beta-VAE and FactorVAE scores, DCI and SAP.

Every metric takes ``codes`` float ``[N, D]`` and ``factors`` int ``[N, K]`` (class indices of
discrete or binned factors) and draws only from a local generator seeded by its ``seed``.
"""

from pyrovae.metrics.beta_vae import beta_vae_score
from pyrovae.metrics.dci_metric import dci, importance_matrix
from pyrovae.metrics.discrete import (
    discretize,
    entropy,
    mutual_info,
    mutual_info_matrix,
)
from pyrovae.metrics.factor_vae import factor_vae_score
from pyrovae.metrics.mig_metric import mig
from pyrovae.metrics.sap_metric import sap, single_code_scores
from pyrovae.metrics.scores import METRIC_NAMES, disentanglement

__all__ = [
    "METRIC_NAMES", "beta_vae_score", "dci", "discretize", "disentanglement", "entropy",
    "factor_vae_score", "importance_matrix", "mig", "mutual_info", "mutual_info_matrix", "sap",
    "single_code_scores",
]
