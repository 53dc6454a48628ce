"""Scoring: pair IoUs, mIoU, pixel mAP@50:5:95 and image-level mAP, compat and strict."""

from .ap import average_precision, positions, precision_at
from .compare import Comparison, compare
from .evaluator import KAPPAS, PROTOCOLS, THRESHOLDS, PixelEval, ProtocolResult, evaluate_files
from .iou import compat_iou, polygons_to_rle, strict_iou
from .point_order import OrderEvidence, load_pixel_results, order_evidence, warn_if_swapped
from .predictions import (
    POINT_ORDERS,
    PixelPrediction,
    PixelResults,
    PixretWarning,
    mask_to_polygon,
    mask_to_rle,
    read_pixel_results,
    read_ranks,
    validate_ranks,
    write_pixel_results,
    write_ranks,
)
from .significance import PairedTest, paired_test

__all__ = [
    "KAPPAS",
    "Comparison",
    "POINT_ORDERS",
    "PROTOCOLS",
    "THRESHOLDS",
    "PixelEval",
    "PixelPrediction",
    "PixelResults",
    "OrderEvidence",
    "PairedTest",
    "PixretWarning",
    "ProtocolResult",
    "average_precision",
    "compare",
    "compat_iou",
    "evaluate_files",
    "load_pixel_results",
    "mask_to_polygon",
    "mask_to_rle",
    "order_evidence",
    "polygons_to_rle",
    "paired_test",
    "positions",
    "precision_at",
    "read_pixel_results",
    "read_ranks",
    "strict_iou",
    "validate_ranks",
    "write_pixel_results",
    "warn_if_swapped",
    "write_ranks",
]
