"""Scoring: pair IoUs, mIoU, pixel mAP@50:5:95 and image-level mAP, compat and strict.

The names below load on first use (lazy_loader, SPEC 1), so that the metric registry
(``pixret.evaluation.metrics``) can be read without the rest: `pixret compare --help` lists it.
``compare`` is the function (lazy_loader keeps it from being shadowed by its module)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "ap": ["average_precision", "precision_at"],
        "compare": ["Comparison", "compare"],
        "evaluator": ["KAPPAS", "PROTOCOLS", "THRESHOLDS", "PixelEval", "ProtocolResult", "evaluate_files"],
        "iou": ["compat_iou", "strict_iou"],
        "results": [
            "POINT_ORDERS",
            "OrderEvidence",
            "PixelPrediction",
            "PixelResults",
            "load_pixel_results",
            "load_ranks",
            "order_evidence",
            "read_pixel_results",
            "read_ranks",
            "validate_ranks",
            "warn_if_swapped",
            "write_pixel_results",
            "write_ranks",
        ],
        "significance": ["PairedTest", "paired_test"],
    },
)
