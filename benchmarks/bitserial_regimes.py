"""Memory regimes of MobileNetV2 on the bit-serial accelerator models: which term binds in each layer.

    python benchmarks/bitserial_regimes.py [--batch 16] [--bits 8,8 4,4 2,8 8,2] [--cost latency:bismo,dm16 ...]

Builds MobileNetV2 as torchvision defines it (width 1.0, 224 x 224 input, 1,000 classes; torchvision's own model
when it is installed, else the plain-torch replica below with the same module names and shapes), traces its 53
weight layers and prices them on every accelerator (``latency:NAME,bB``; parameters and sources in
``cost_models/accelerators.py``, formulas in ``cost_models/bitserial.py``) at each (weight, activation) bit pair
(weights signed: one sign plane is added; an activation width is its total width, sign included). It prints, as
markdown:

* per accelerator and bit pair: total cycles, milliseconds at the accelerator's clock, and how many layers are in
  each regime (compute, weight, activation);
* the share of latency per layer kind (stem, depthwise, pointwise expand, pointwise project, classifier; a 1x1
  convolution that widens is an expansion, so the last 320 -> 1280 layer counts as one);
* each layer's regime per accelerator and bit pair;
* for BISMO, the regimes present at each bit pair and the totals at (2, 8) and (8, 2).

It reports what it measured in this run; it asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch
from torch import nn

from cost_models import LayerBits, LayerGeometry, trace_geometry
from cost_models.accelerators import ACCELERATORS
from cost_models.regimes import REGIMES, regime_counts, regime_table

KINDS = ("stem", "depthwise", "pointwise expand", "pointwise project", "classifier")
# torchvision's inverted-residual settings: expansion t, output channels c, repeats n, first stride s
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))  # fmt: skip


class InvertedResidual(nn.Module):
    """1x1 expansion (t > 1), 3x3 depthwise, 1x1 linear projection; residual when shapes allow (torchvision's)."""

    def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
        super().__init__()
        hidden = cin * t
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = [_conv_bn_relu(cin, hidden, 1)] if t != 1 else []
        layers += [_conv_bn_relu(hidden, hidden, 3, stride, groups=hidden), nn.Conv2d(hidden, cout, 1, bias=False),
                   nn.BatchNorm2d(cout)]  # fmt: skip
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018) at width 1.0, module names as torchvision's ``mobilenet_v2``."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        features: list[nn.Module] = [_conv_bn_relu(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in SETTINGS:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(_conv_bn_relu(cin, 1280, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(x)


def mobilenet_v2() -> tuple[nn.Module, str]:
    """``(model, where it came from)``: torchvision's ``mobilenet_v2()`` if installed, else :class:`MobileNetV2`."""
    try:
        from torchvision.models import mobilenet_v2 as tv_mobilenet_v2
    except ImportError:
        return MobileNetV2(), "plain-torch replica of torchvision's mobilenet_v2"
    return tv_mobilenet_v2(), "torchvision.models.mobilenet_v2"


def layer_kind(geom: LayerGeometry, first: bool) -> str:
    """One of :data:`KINDS` for a MobileNetV2 layer (``first``: the stem)."""
    if geom.op == "linear":
        return "classifier"
    if first:
        return "stem"
    if geom.groups > 1:
        return "depthwise"
    return "pointwise expand" if geom.out_channels > geom.in_channels else "pointwise project"


def _bits(geometry: Sequence[LayerGeometry], w: int, a: int) -> dict[str, LayerBits]:
    t = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    return {g.name: LayerBits(t(w), t(a), t(w), weight_signed=True) for g in geometry}


def _md(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--bits", nargs="+", default=["8,8", "4,4", "2,8", "8,2"], help="W,A pairs")
    p.add_argument("--cost", nargs="+", help="latency models (default: latency:NAME,bBATCH for every accelerator)")
    args = p.parse_args(argv)
    pairs = [tuple(int(x) for x in s.split(",")) for s in args.bits]
    names = args.cost or [f"latency:{a},b{args.batch}" for a in ACCELERATORS]
    model, origin = mobilenet_v2()
    geometry = trace_geometry(model, (3, 224, 224))
    kinds = {g.name: layer_kind(g, i == 0) for i, g in enumerate(geometry)}
    print(f"# MobileNetV2 on bit-serial accelerators ({origin}; 224x224, batch {args.batch})\n")
    print(f"{len(geometry)} weight layers, {sum(g.macs for g in geometry) / 1e6:.1f} M MACs and "
          f"{sum(g.n_weights for g in geometry) / 1e6:.2f} M weights per sample; "
          f"{sum(g.groups > 1 for g in geometry)} depthwise. Weights signed (+1 sign plane); activation bits are "
          "total widths.\n")  # fmt: skip
    tables = {(n, wa): regime_table(n, geometry, _bits(geometry, *wa)) for n in names for wa in pairs}
    rows = []
    for (n, (w, a)), t in tables.items():
        acc = ACCELERATORS[n.split(":")[1].split(",")[0]]
        total = float(t.loc["TOTAL"].filter(like="total [").iloc[0])
        counts = regime_counts(t)
        rows.append([n, f"w{w}a{a}", f"{total:,.0f}", f"{total / (acc.clock_mhz * 1e3):.2f}",
                     *(counts[r] for r in REGIMES)])  # fmt: skip
    print("## Totals and regime counts (layers per regime)\n")
    print(_md(["model", "bits", "cycles", "ms", *REGIMES], rows) + "\n")
    print("## Share of latency per layer kind\n")
    share_rows = []
    for (n, (w, a)), t in tables.items():
        col = next(c for c in t.columns if c.startswith("total ["))
        per = t.loc[t.index != "TOTAL", col].groupby(lambda k: kinds[k]).sum() / t.loc["TOTAL", col]
        share_rows.append([n, f"w{w}a{a}", *(f"{100 * per.get(k, 0.0):.1f} %" for k in KINDS)])
    print(_md(["model", "bits", *KINDS], share_rows) + "\n")
    print("## Regime of each layer\n")
    for n in names:
        layer_rows = [[g.name, kinds[g.name], f"{g.in_channels}->{g.out_channels} k{g.kernel} g{g.groups}",
                       *(tables[(n, wa)].loc[g.name, "regime"] for wa in pairs)] for g in geometry]  # fmt: skip
        print(f"### {n}\n")
        print(_md(["layer", "kind", "shape", *(f"w{w}a{a}" for w, a in pairs)], layer_rows) + "\n")
    bismo = [n for n in names if n.startswith("latency:bismo")]
    if bismo:
        n = bismo[0]
        print(f"## BISMO ({ACCELERATORS['bismo'].summary()}; {n})\n")
        for wa in pairs:
            present = [r for r, c in regime_counts(tables[(n, wa)]).items() if c]
            print(f"* w{wa[0]}a{wa[1]}: {len(present)} regimes present ({', '.join(present)})")
        at = {}
        for wa in ((2, 8), (8, 2)):
            t = tables[(n, wa)] if (n, wa) in tables else regime_table(n, geometry, _bits(geometry, *wa))
            at[wa] = float(t.loc["TOTAL"].filter(like="total [").iloc[0])
        print(f"* (w, a) = (2, 8): {at[(2, 8)]:,.0f} cycles; (8, 2): {at[(8, 2)]:,.0f} cycles; "
              f"ratio {at[(2, 8)] / at[(8, 2)]:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
