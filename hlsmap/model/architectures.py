"""The built-in architectures: hlsmap's U-Net and Dynamic World's network.

Each is an :class:`~hlsmap.model.registry.Architecture`; the networks themselves (Flax NNX)
are imported only when one is built, so the registry stays free of JAX.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from hlsmap.errors import ModelError


class UNetArchitecture:
    """hlsmap's U-Net (:mod:`hlsmap.model.unet`)."""

    name = "unet"
    title = "hlsmap U-Net: 6 harmonized HLS bands, L30 and S30, 30 m"

    def config_from_dict(self, d: dict[str, Any]) -> Any:
        from hlsmap.model.unet import UNetConfig

        return UNetConfig.from_dict(d)

    def config_to_dict(self, config: Any) -> dict[str, Any]:
        return dict(config.to_dict())

    def build(self, config: Any, in_channels: int) -> Any:
        from flax import nnx

        from hlsmap.model.unet import UNet

        return nnx.eval_shape(lambda: UNet(config, rngs=nnx.Rngs(0)))

    def receptive_radius(self, config: Any) -> int:
        # The U-Net's theoretical field is larger, but its far context weighs little: 32 px is
        # the halo every map of this project has been made (and measured) with.
        return 32

    def alignment(self, config: Any) -> int:
        return int(config.multiple)


@dataclass(frozen=True)
class DynamicWorldConfig:
    """Dynamic World's network has one shape; only the compute dtype is a choice.

    Attributes:
        in_channels: the nine Sentinel-2 bands.
        num_classes: Dynamic World's nine classes (no cloud class).
        dtype: ``"float32"`` (the reference) or ``"bfloat16"``.
    """

    in_channels: int = 9
    num_classes: int = 9
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if (self.in_channels, self.num_classes) != (9, 9):
            raise ModelError(
                "Dynamic World takes 9 bands and gives 9 classes; the model.json says"
                f" {self.in_channels} and {self.num_classes}: the model is corrupt."
            )
        if self.dtype not in ("float32", "bfloat16"):
            raise ModelError(f"dtype {self.dtype!r}: use 'float32' or 'bfloat16'.")


class DynamicWorldArchitecture:
    """Dynamic World's published network (Brown et al. 2022), ported to Flax NNX."""

    name = "dynamicworld"
    title = "Dynamic World (Google/WRI): 9 Sentinel-2 bands, HLS S30 and S2 L2A, 10 m"

    def config_from_dict(self, d: dict[str, Any]) -> DynamicWorldConfig:
        known = {f.name for f in fields(DynamicWorldConfig)}
        if set(d) - known:
            raise ModelError(
                f"unknown architecture fields {sorted(set(d) - known)}: the model was saved by a"
                " newer hlsmap; upgrade hlsmap to load it."
            )
        return DynamicWorldConfig(**d)

    def config_to_dict(self, config: Any) -> dict[str, Any]:
        return asdict(config)

    def build(self, config: Any, in_channels: int) -> Any:
        from flax import nnx

        from hlsmap.model.dynamicworld import DynamicWorldNet

        return nnx.eval_shape(lambda: DynamicWorldNet(rngs=nnx.Rngs(0), dtype=config.dtype))

    def receptive_radius(self, config: Any) -> int:
        from hlsmap.model.dynamicworld import RECEPTIVE_RADIUS

        return int(RECEPTIVE_RADIUS)

    def alignment(self, config: Any) -> int:
        # the network halves the grid once (antialiased resize): windows cut at even offsets
        # see the same half-size grid as the whole image does
        return 2


UNET = UNetArchitecture()
DYNAMICWORLD = DynamicWorldArchitecture()
