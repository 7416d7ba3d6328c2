"""Metrics: pure functions of arrays (they import nothing from the rest of jaxrec)."""

from jaxrec.metrics._classification import auc, log_loss
from jaxrec.metrics._detection import average_precision, detection_metrics
from jaxrec.metrics._full_ranking import CSR, evaluate_full_ranking, masked_top_k
from jaxrec.metrics._ranking import ranking_metrics

__all__ = [
    "CSR",
    "auc",
    "average_precision",
    "detection_metrics",
    "evaluate_full_ranking",
    "log_loss",
    "masked_top_k",
    "ranking_metrics",
]
