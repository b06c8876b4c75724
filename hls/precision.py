"""Fixed-point types as the HLS side sees them.

Glossary (as hls4ml/HGQ2 and ``docs/precisions_v1.md``): **k** sign bit (0/1), **i** integer bits excluding the
sign, **f** fractional bits (may be negative), width **W = k + i + f**. A (k, i, f) value lies on the grid
``2^-f`` inside ``[-2^i, 2^i - 2^-f]`` (k = 1) or ``[0, 2^i - 2^-f]`` (k = 0). In C++ that is
``ap_fixed<W, k+i, AP_RND, AP_SAT>`` (``ap_ufixed<W, i, ...>`` when k = 0); hls4ml's config spelling drops the
``ap_``/``AP_`` prefixes (``fixed<W,I,RND,SAT>``). ``RND`` rounds half up (``floor(x * 2^f + 0.5)``), ``SAT``
clamps to the range; hls4ml's default for every type is ``TRN`` (floor) + ``WRAP`` (two's-complement wrap).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FixedType", "bits_for_int_range"]

_ROUNDING = ("RND", "TRN")
_OVERFLOW = ("SAT", "WRAP")


@dataclass(frozen=True)
class FixedType:
    """A fixed-point type (k, i, f) with a rounding and an overflow mode.

    Example: ``FixedType(1, 2, 5).to_hls()`` is ``'ap_fixed<8,3,AP_RND,AP_SAT>'``;
    ``FixedType(0, 4, 4, "TRN", "WRAP").to_config()`` is ``'ufixed<8,4>'``.
    """

    k: int
    i: int
    f: int
    rounding: str = "RND"
    overflow: str = "SAT"

    def __post_init__(self) -> None:
        if self.k not in (0, 1):
            raise ValueError(f"sign bit k must be 0 or 1, got {self.k}")
        if self.width < 1:
            raise ValueError(f"fixed-point type (k={self.k}, i={self.i}, f={self.f}) has width {self.width} < 1")
        if self.rounding not in _ROUNDING or self.overflow not in _OVERFLOW:
            raise ValueError(f"modes must be one of {_ROUNDING} and {_OVERFLOW}, got {self.rounding}, {self.overflow}")

    @property
    def width(self) -> int:
        """W = k + i + f."""
        return self.k + self.i + self.f

    @property
    def integer(self) -> int:
        """The ``I`` of ``ap_fixed<W, I>``: integer bits including the sign."""
        return self.k + self.i

    @property
    def lsb(self) -> float:
        """Grid step ``2^-f``."""
        return 2.0**-self.f

    def int_range(self) -> tuple[int, int]:
        """Smallest and largest integer code (value = code * 2^-f)."""
        if self.k:
            return -(2 ** (self.width - 1)), 2 ** (self.width - 1) - 1
        return 0, 2**self.width - 1

    def _modes(self, prefix: str) -> str:
        if (self.rounding, self.overflow) == ("TRN", "WRAP"):
            return ""
        return f",{prefix}{self.rounding},{prefix}{self.overflow}"

    def to_hls(self) -> str:
        """C++ spelling, e.g. ``'ap_fixed<8,3,AP_RND,AP_SAT>'``."""
        base = "ap_fixed" if self.k else "ap_ufixed"
        return f"{base}<{self.width},{self.integer}{self._modes('AP_')}>"

    def to_config(self) -> str:
        """hls4ml config spelling, e.g. ``'fixed<8,3,RND,SAT>'``."""
        base = "fixed" if self.k else "ufixed"
        return f"{base}<{self.width},{self.integer}{self._modes('')}>"


def bits_for_int_range(lo: int, hi: int, f: int) -> FixedType:
    """The smallest TRN/WRAP type with ``f`` fractional bits holding every integer code in ``[lo, hi]``.

    Example: codes in [-300, 200] with f = 4 need k = 1 and i = 5 (2^9 = 512 > 300): ``fixed<10,6>``.
    """
    k = 1 if lo < 0 else 0
    mag = max(hi + 1, -lo if k else 0, 1)  # need 2^(i+f) >= mag
    i = (mag - 1).bit_length() - f  # ceil(log2(mag)) without float rounding
    if k + i + f < 1:
        i = 1 - k - f
    return FixedType(k, i, f, "TRN", "WRAP")
