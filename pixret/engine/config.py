"""Named engine configurations (hloc style): each a dict of stage settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ..errors import PixretError


@dataclass(frozen=True)
class FeatureConfig:
    """Local features: OpenCV SIFT as RootSIFT, or a learned extractor (needs ``pixret[learned]``)."""

    kind: str = "sift"  # "sift", or learned: "xfeat", "aliked" (ALIKED-n16), "disk"
    max_side: int = 1024  # images are resized so their longest side is at most this
    n_features: int = 2000  # per image (OpenCV keeps the strongest)
    upright: bool = False  # one orientation per keypoint, 0 degrees (faster, no rotation invariance)
    contrast_threshold: float = 0.03  # SIFT only
    detection_threshold: float = 0.0  # learned only; 0 = the model's default
    weights: str = ""  # learned only: weights file or folder ("" = the lookup in engine.learned.weights)

    def __post_init__(self) -> None:
        _check_choices(self)


@dataclass(frozen=True)
class ShortlistConfig:
    """Image-level shortlist: visual vocabulary + inverted file (tf-idf, burstiness-aware)."""

    vocab_size: int = 0  # 0 = chosen from the collection size (about 2 per image, 1k .. 8k)
    kmeans_iters: int = 8
    # candidates passed to spatial verification; 0 = chosen from the collection size
    # (shortlist.auto_top_k: 100 up to 100k images, growing to 300 at a million)
    top_k: int = 0
    # tf-idf over words split 2**split_bits ways by their signatures (shortlist.split_words): a
    # finer vocabulary for telling images apart, while matching keeps the coarse words
    split_bits: int = 0
    # images per index shard (engine/shards.py): the unit of parallel building, of resuming a
    # killed build, of rewriting on --add, and of parallel search; at most 65,535
    shard_size: int = 20000

    def __post_init__(self) -> None:
        if not 1 <= self.shard_size <= 65535:
            raise PixretError(None, f"ShortlistConfig.shard_size must be 1 .. 65535, got {self.shard_size}")


KEYPOINT_CHECKS = ("scale+orientation", "scale", "none")
# every field with a fixed set of values: a typo is refused with the list of valid ones
CHOICES: dict[str, tuple[str, ...]] = {
    "kind": ("sift", "xfeat", "aliked", "disk"),
    "model": ("homography", "affine"),
    "method": ("magsac", "ransac"),
    "matching": ("words", "ratio", "mnn", "lightglue"),
    "keypoint_check": KEYPOINT_CHECKS,
    "match_distance": ("descriptor", "signature"),
    "output": ("adaptive", "object", "tight", "box"),
    "shape": ("hull", "discs"),
}


def _check_choices(cfg: object) -> None:
    for name, valid in CHOICES.items():
        value = getattr(cfg, name, None)
        if value is not None and value not in valid:
            raise PixretError(
                None, f"{type(cfg).__name__}.{name} {value!r} is not one of: {', '.join(valid)}"
            )


@dataclass(frozen=True)
class VerifyConfig:
    """Spatial verification of the shortlist."""

    model: str = "homography"  # or "affine"
    method: str = "magsac"  # OpenCV USAC_MAGSAC; "ransac" for classic RANSAC
    matching: str = "words"  # "words": shared visual words; "ratio": exhaustive NN ratio test;
    # "mnn": mutual nearest neighbours, "lightglue": the learned matcher (both on the first
    # `matcher_top_k` shortlisted images; the rest of the shortlist goes through words)
    matcher_top_k: int = 20
    matcher_weights: str = ""  # LightGlue weights file or folder ("" = the lookup)
    min_similarity: float = 0.8  # mnn: cosine similarity a mutual pair needs
    # extra views of the query box for features that are not rotation invariant: each rotated
    # copy (degrees) is described and its keypoints mapped back
    query_rotations: tuple[float, ...] = ()
    ratio: float = 0.9  # Lowe's ratio test (among shared-word candidates, or exhaustive)
    max_desc_dist: float = 0.85  # RootSIFT L2 distance accepted for a match (>= 1.42: any)
    max_pairs_per_word: int = 16  # bursty words contribute at most this many tentative pairs (0 = all)
    # words matching: a pair of one word is a candidate only if its Hamming-embedding signatures
    # differ in at most this many of 64 bits (0 = no signature test)
    hamming_threshold: int = 0
    # words matching: Lowe's ratio over RootSIFT distances ("descriptor"), or over the signatures'
    # Hamming distances ("signature": verification needs no descriptors)
    match_distance: str = "descriptor"
    query_words: int = 3  # multiple assignment: each query feature matches through its k nearest words
    reproj_threshold: float = 0.008  # inlier threshold, as a fraction of the image's longest side
    min_inliers: int = 8  # inliers (that pass keypoint_check) an image needs to count as verified
    max_iters: int = 2000
    # inliers must also carry the keypoint's scale and orientation through the fitted model
    # ("scale+orientation"; "scale"; "none" = position only). Chance inliers between unrelated
    # images fail it. Applied where the features carry them (SIFT; upright SIFT: scale only)
    keypoint_check: str = "scale+orientation"
    # a second chance: the first this many shortlisted images that words matching did not
    # verify are matched again exhaustively (Lowe's ratio over the descriptors, as the sift-sp
    # baseline matches) and verified with the same checks; 0 = none (a compact index keeps no
    # descriptors: none there)
    retry_top_k: int = 0
    # 3D views: where no homography verifies an image, a fundamental matrix may (its inliers lie
    # on their epipolar lines, wherever the object's surfaces are); those inliers must agree on
    # one scale change and rotation (Jegou et al.'s weak geometric consistency, voted over the
    # image), and at least this many must, more than a homography needs (a fundamental matrix
    # fits chance matches more easily); 0 = homographies only
    epipolar_min_inliers: int = 0
    # ... and as distinctive inliers (verify.distinctive): any photo of the same courtyard has
    # one fundamental matrix with the query, whatever part of it shows
    epipolar_min_distinct: float = 12.0
    # against what verifies without being the object (verify.distinctive): inliers counted once
    # per repeat of their word in the query box must reach this, or else cover ``min_coverage``
    # of the box and be ``repetition_ratio`` of the tentative matches; 0 = no such check
    min_distinct_inliers: float = 0.0
    min_coverage: float = 0.02
    repetition_ratio: float = 0.13
    max_scale_change: float = 2.0  # keypoint_check: allowed factor between feature and model scale
    max_angle_change: float = 30.0  # keypoint_check: allowed orientation difference, degrees

    def __post_init__(self) -> None:
        _check_choices(self)


@dataclass(frozen=True)
class MaskConfig:
    """Pixel output: the projected box, the object segmented in the query, a hull of inliers."""

    # which outline results export: "adaptive" (the default: "box" when the object fills its box,
    # else "object"; masks.decide), "object" (GrabCut in the query seeded by consensus inliers
    # and the box, masks.object_polygons), "tight" (hull of consensus inliers) or "box"
    output: str = "adaptive"
    shape: str = "hull"  # object support in the query: "hull" of the inlier discs, or the "discs"
    disc: float = 1.0  # support disc radius, in keypoint sizes
    close: float = 0.08  # morphological closing, as a fraction of the box diagonal
    min_votes: int = 2  # a query keypoint must be an inlier in this many results (when >= 3 verified)
    grabcut_margin: float = 0.25  # "object": background ring around the box, in box sides
    grabcut_iters: int = 3  # "object": GrabCut iterations
    hull_reach: float = 0.10  # "object": the box within this (x box diagonal) of the keypoints' hull
    # is probably object, the rest of it probably background
    seed_disc: float = 1.0  # "object": surely-object disc radius around a consensus keypoint, in sizes
    # "object": the box is tight (Lempitsky et al., "Image segmentation with a bounding box prior",
    # ICCV 2009): each row and column of the box crosses the object. A row or column GrabCut left
    # without object gets a surely-object seed (masks.tighten), and GrabCut runs again: at most
    # this many rounds (0 = off)
    box_prior_rounds: int = 0
    box_prior_slack: float = 0.1  # rows and columns this share of the box's side from its edges are exempt
    # "adaptive": the object fills its box when GrabCut keeps at least this share of the box
    fill_threshold: float = 0.85
    # the first this many verified results get their mask segmented in their own image
    # (masks.refine_in_result: GrabCut seeded by the mapped outline, the mapped box and the
    # pair's inliers); 0 = the mapped outline alone
    refine: int = 0
    refine_margin: float = 0.15  # the result crop: the mapped box and this share of its size around it
    refine_ring: float = 0.04  # probably background: a ring this share of the crop around the mapped box
    refine_min_iou: float = 0.6  # a segmentation keeping less of the mapped outline than this share is not used
    refine_side: int = 160  # pixels, the result crop's longest side (GrabCut is O(pixels))
    refine_iters: int = 3  # GrabCut iterations in a result

    def __post_init__(self) -> None:
        _check_choices(self)


@dataclass(frozen=True)
class ExpansionConfig:
    """Spatially verified query expansion (Chum et al., "Total Recall", ICCV 2007; Chum et al.
    CVPR 2011) and masks along chains of verified images (engine/expansion.py)."""

    enabled: bool = True  # off for the exhaustive baseline (it verifies everything already)
    # a verified result expands the query only with this many inliers (points, counted once:
    # left at 12, where it was measured with matches; 10 changed no score on the benchmarks)
    min_inliers: int = 12
    max_sources: int = 8  # the strongest verified results that expand it
    # images the expanded query shortlists beyond those the first shortlist held; 0 = chosen from
    # the collection size (expansion.auto_expansion_k: 50 up to 10k images, 3,000 at a million)
    top_k: int = 0
    # guard against drift: a link from a verified result to a new image needs this many inliers
    # (more than a direct match's min_inliers: each image gets several tries; counted once per
    # point, verify.once_per_point: 10 distinct points are about what 12 matches were when a
    # keypoint's second orientation counted again), and only the result's features that lie on
    # the object (inside the query box mapped into it) take part
    chain_min_inliers: int = 10
    # verified results (the strongest first) a still unverified image is matched against: 5
    # reach 6 more landmark positives than 3 (README "Real landmarks") at no cost measured at a
    # million images; 8 reach 3 more again but lose 1.3 points of Hard pixel mAP there
    chain_sources: int = 5
    # guard against repeated structure: a link whose inliers are not distinctive (they rest on
    # words the result's object repeats, verify.distinctive) must hold this share of the link's
    # tentative matches (a direct match needs VerifyConfig.repetition_ratio, and a link never
    # less): windows of one design on another wing vote for a shifted grid among many tentative
    # matches, and each image gets ``chain_sources`` tries at such a link (Torii et al., CVPR
    # 2013). Measured: false links 15-17%, true ones 20% and more. Acts only where
    # VerifyConfig.min_distinct_inliers > 0 (the fast configs)
    chain_repetition_ratio: float = 0.18
    # guard: the query's own tentative matches with the image that agree with the chained
    # homography (no fitting) must be at least this many, counted once per point
    confirm_inliers: int = 4
    # the expanded query's best unverified images tried through chains; 0 = chosen from the
    # collection size (30 up to 100k images, 200 at a million)
    chain_candidates: int = 0


@dataclass(frozen=True)
class EngineConfig:
    name: str = "fast"
    exhaustive: bool = False  # verify every database image (the paper's baseline), no shortlist
    # store no descriptors and float16 keypoints: verification works from the signatures
    # (needs verify.matching "words" with match_distance "signature")
    compact: bool = False
    features: FeatureConfig = field(default_factory=FeatureConfig)
    shortlist: ShortlistConfig = field(default_factory=ShortlistConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    expansion: ExpansionConfig = field(default_factory=ExpansionConfig)

    def __post_init__(self) -> None:
        v = self.verify
        if self.compact and (v.matching != "words" or v.match_distance != "signature" or v.hamming_threshold <= 0):
            raise PixretError(None, f"config {self.name!r}: a compact index keeps no descriptors, so it needs "
                              "matching 'words' with match_distance 'signature' and a hamming_threshold")  # fmt: skip

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EngineConfig:
        return cls(
            name=d["name"],
            exhaustive=d["exhaustive"],
            compact=d.get("compact", False),
            features=FeatureConfig(**d["features"]),
            shortlist=ShortlistConfig(**d["shortlist"]),
            verify=VerifyConfig(
                **{
                    **d["verify"],
                    "query_rotations": tuple(d["verify"].get("query_rotations", ())),
                }
            ),
            mask=MaskConfig(**d["mask"]),
            expansion=ExpansionConfig(**d.get("expansion", {})),
        )


# The fast path's matching, chosen by measurement on the real-photo and generated benchmarks
# (benchmarks/bench_engine.py; README "Engine"): words split 256 ways for the shortlist, every
# pair of a word whose signatures differ in at most 18 bits (no cap on bursty words, which had
# cut true matches), and Lowe's 0.8 ratio among them.
FAST_SHORTLIST = ShortlistConfig(split_bits=8)
# ... and, measured on the landmark benchmark (make-benchmark --landmarks), the real-photo one and
# the generated one (benchmarks/bench_engine.py; README "Real photographs"): a verification must
# rest on distinctive inliers (a courtyard's other wings repeat the query's windows), and masks
# are segmented in each of the first 20 results' own image; in the query, GrabCut takes the
# whole box as probably object (its background is found by colour), not only near the inliers,
# and the box is taken as tight (a church tower's spire, thinner than its nave, stays object)
FAST_VERIFY = VerifyConfig(hamming_threshold=18, max_pairs_per_word=0, ratio=0.8, max_desc_dist=1.5,
                           min_distinct_inliers=4.5)  # fmt: skip
FAST_MASK = MaskConfig(hull_reach=2.0, box_prior_rounds=3, refine=20, refine_side=120, refine_iters=2,
                       refine_min_iou=0.5)  # fmt: skip

CONFIGS: dict[str, EngineConfig] = {
    # the default: vocabulary shortlist, verification of the top 100 through shared words,
    # masks that follow the object
    "fast": EngineConfig(shortlist=FAST_SHORTLIST, verify=FAST_VERIFY, mask=FAST_MASK),
    # the paper's baseline: ratio-test matching + RANSAC against every database image,
    # the projected query box as the pixel output
    "sift-sp": EngineConfig(
        name="sift-sp",
        exhaustive=True,
        shortlist=ShortlistConfig(vocab_size=1024),  # unused by the search: keep it cheap
        # position-only inlier counting, as the paper's baseline does
        verify=VerifyConfig(matching="ratio", method="ransac", ratio=0.8, keypoint_check="none"),
        mask=MaskConfig(output="box"),
        expansion=ExpansionConfig(enabled=False),
    ),
    # the default with a compact index (R1M scale): no descriptors on disk, float16 keypoints,
    # Lowe's ratio over signature distances (README "Scaling out")
    # (no per-result segmentation: at a million the results' photos are rarely on the searching
    # machine's disk, and each one read costs a cold seek: the mapped outlines, as before)
    "fast-compact": EngineConfig(name="fast-compact", compact=True, shortlist=FAST_SHORTLIST,
                                 verify=replace(FAST_VERIFY, match_distance="signature"),
                                 mask=replace(FAST_MASK, refine=0)),  # fmt: skip
    # the default with upright features (faster, for collections without in-plane rotation)
    "fast-upright": EngineConfig(name="fast-upright", features=FeatureConfig(upright=True), shortlist=FAST_SHORTLIST,
                                 verify=FAST_VERIFY, mask=FAST_MASK),  # fmt: skip
    # learned features (pip install 'pixret[learned]'), named like hloc's: extractor+matcher
    # XFeat, matched by mutual nearest neighbours (one batched product) in the top shortlisted
    # images, the rest of the shortlist through words; the query box is also described rotated
    # by +-40 degrees, as XFeat is not rotation invariant (the fastest learned config)
    "xfeat": EngineConfig(
        name="xfeat",
        features=FeatureConfig(kind="xfeat"),
        verify=VerifyConfig(
            max_desc_dist=0.9, matching="mnn", matcher_top_k=30, query_rotations=(-40.0, 40.0)
        ),
    ),
    # XFeat with LighterGlue on the top shortlisted images
    "xfeat+lighterglue": EngineConfig(
        name="xfeat+lighterglue",
        features=FeatureConfig(kind="xfeat"),
        verify=VerifyConfig(max_desc_dist=0.9, matching="lightglue"),
    ),
    "aliked+lightglue": EngineConfig(
        name="aliked+lightglue",
        features=FeatureConfig(kind="aliked", max_side=768),
        verify=VerifyConfig(max_desc_dist=0.9, matching="lightglue"),
    ),
    "disk+lightglue": EngineConfig(
        name="disk+lightglue",
        features=FeatureConfig(kind="disk", max_side=768),
        verify=VerifyConfig(max_desc_dist=0.9, matching="lightglue"),
    ),
}


def get_config(name: str) -> EngineConfig:
    if name not in CONFIGS:
        raise PixretError(None, f"unknown engine config {name!r}; known: {', '.join(CONFIGS)}")
    return CONFIGS[name]


def with_top_k(cfg: EngineConfig, k: int) -> EngineConfig:
    return replace(cfg, shortlist=replace(cfg.shortlist, top_k=k))
