"""Scoring: pair IoUs, mIoU, pixel mAP@50:5:95 and image-level mAP, compat and strict."""

from .ap import average_precision, positions, precision_at
from .evaluator import KAPPAS, PROTOCOLS, THRESHOLDS, PixelEval, ProtocolResult, evaluate_files
from .iou import compat_iou, polygons_to_rle, strict_iou
from .predictions import (
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

__all__ = [
    "KAPPAS",
    "PROTOCOLS",
    "THRESHOLDS",
    "PixelEval",
    "PixelPrediction",
    "PixelResults",
    "PixretWarning",
    "ProtocolResult",
    "average_precision",
    "compat_iou",
    "evaluate_files",
    "mask_to_polygon",
    "mask_to_rle",
    "polygons_to_rle",
    "positions",
    "precision_at",
    "read_pixel_results",
    "read_ranks",
    "strict_iou",
    "validate_ranks",
    "write_pixel_results",
    "write_ranks",
]
