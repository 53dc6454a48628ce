"""Scoring: pair IoUs, mIoU, pixel mAP@50:5:95 and image-level mAP, compat and strict."""

from .ap import average_precision, precision_at
from .compare import Comparison, compare
from .evaluator import KAPPAS, PROTOCOLS, THRESHOLDS, PixelEval, ProtocolResult, evaluate_files
from .iou import compat_iou, strict_iou
from .results import (
    POINT_ORDERS,
    OrderEvidence,
    PixelPrediction,
    PixelResults,
    load_pixel_results,
    load_ranks,
    order_evidence,
    read_pixel_results,
    read_ranks,
    validate_ranks,
    warn_if_swapped,
    write_pixel_results,
    write_ranks,
)
from .significance import PairedTest, paired_test

__all__ = [
    "KAPPAS",
    "POINT_ORDERS",
    "PROTOCOLS",
    "THRESHOLDS",
    "Comparison",
    "OrderEvidence",
    "PairedTest",
    "PixelEval",
    "PixelPrediction",
    "PixelResults",
    "ProtocolResult",
    "average_precision",
    "compare",
    "compat_iou",
    "evaluate_files",
    "load_pixel_results",
    "load_ranks",
    "order_evidence",
    "paired_test",
    "precision_at",
    "read_pixel_results",
    "read_ranks",
    "strict_iou",
    "validate_ranks",
    "warn_if_swapped",
    "write_pixel_results",
    "write_ranks",
]
