"""Synthetic keyword spotting: 10 spoken-word-like classes as MFCC frames, x (N, 1, 49, 10), y int64 (N,).

Each sample is 1 s of 8 kHz audio synthesized from scratch (no recordings): a keyword is a fixed sequence of 3-4
phoneme-like segments (vowels, nasals, liquids: a pitch pulse train through 3 formant resonators; fricatives and
stop bursts: noise through resonators). Per sample the "speaker" and the recording vary: pitch 80-250 Hz (with
declination, vibrato and jitter), formant scale 0.85-1.15 (+7 % per formant and segment), segment durations
(x0.75-1.3, speaking rate x0.8-1.2), start time, breathiness, loudness (-12..0 dB) and background noise (white, pink
hum + coloured hiss, or babble of 3 other synthetic speakers; SNR 5-20 dB against the speech power), a
random channel tilt, and words cut by up to 80 ms at the window edges.

Features: pre-emphasis 0.97, 25 ms Hamming windows (200 samples) every 20 ms (160 samples) -> 49 frames, 256-point
power spectrum, 26 mel bands (20-4000 Hz), natural log, orthonormal DCT-II, coefficients 0..9 (c0 included), then
standardized per coefficient with the training set's mean and std (unitless). 6000 train / 1500 test, balanced.
"""

from __future__ import annotations

import numpy as np
from datacache import main, standardize
from scipy.fft import dct
from scipy.signal import lfilter

NAME = "kws"
VERSION = 2
SR = 8000  # Hz
N_AUDIO = SR  # 1 s
WIN, HOP, NFFT, N_MELS, N_MFCC = 200, 160, 256, 26, 10
N_TRAIN, N_TEST = 6000, 1500

# phoneme: (kind, formants Hz, bandwidths Hz, relative amplitude, base duration ms)
PHONES = {
    "i": ("voiced", (270, 2290, 3010), (60, 90, 150), 1.0, 110),
    "e": ("voiced", (530, 1840, 2480), (70, 100, 150), 1.0, 120),
    "a": ("voiced", (730, 1090, 2440), (90, 110, 160), 1.0, 130),
    "o": ("voiced", (570, 840, 2410), (80, 100, 160), 1.0, 130),
    "u": ("voiced", (300, 870, 2240), (60, 90, 150), 0.9, 110),
    "uh": ("voiced", (640, 1190, 2390), (80, 100, 160), 1.0, 110),
    "n": ("voiced", (250, 1700, 2600), (60, 200, 300), 0.35, 70),
    "m": ("voiced", (250, 1000, 2200), (60, 200, 300), 0.35, 70),
    "l": ("voiced", (360, 1300, 2700), (60, 150, 200), 0.6, 70),
    "r": ("voiced", (420, 1300, 1600), (60, 120, 150), 0.6, 70),
    "s": ("noise", (3300, 3700), (800, 600), 0.45, 110),
    "f": ("noise", (1400, 2900), (1500, 1500), 0.15, 100),
    "h": ("noise", (700, 1200, 2500), (300, 300, 400), 0.2, 50),
    "p": ("stop", (800, 1500), (600, 1000), 0.35, 60),
    "t": ("stop", (3000, 3600), (900, 800), 0.4, 60),
    "k": ("stop", (1800, 2500), (500, 800), 0.4, 60),
    "d": ("stop", (2900, 3500), (900, 800), 0.3, 50),
    "g": ("stop", (1700, 2400), (500, 800), 0.3, 50),
}
KEYWORDS = (  # class index = position
    ("yes", ("i", "e", "s")),
    ("no", ("n", "o", "u")),
    ("up", ("h", "uh", "p")),
    ("down", ("d", "a", "u", "n")),
    ("left", ("l", "e", "f", "t")),
    ("right", ("r", "a", "i", "t")),
    ("on", ("o", "a", "n")),
    ("off", ("o", "a", "f")),
    ("stop", ("s", "t", "o", "p")),
    ("go", ("g", "o", "u")),
)
FADE = int(0.015 * SR)  # samples of raised-cosine fade (and overlap) at segment edges


def _resonators(freqs, bws) -> np.ndarray:
    """Denominator of a cascade of 2-pole resonators at ``freqs`` (Hz) with bandwidths ``bws`` (Hz)."""
    a = np.ones(1)
    for f, bw in zip(freqs, bws, strict=True):
        f = min(f, 0.47 * SR)
        r = np.exp(-np.pi * bw / SR)
        a = np.convolve(a, [1.0, -2.0 * r * np.cos(2 * np.pi * f / SR), r * r])
    return a


def _pulse_train(rng: np.random.Generator, f0: float, n: int) -> np.ndarray:
    """Glottal excitation of ``n`` samples: pulses at pitch ``f0`` Hz with declination, vibrato, jitter; -6 dB/oct."""
    t = np.arange(n) / SR
    contour = f0 * (1.0 + rng.uniform(-0.15, 0.1) * t + 0.02 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
    contour *= 1.0 + 0.01 * rng.standard_normal(n).cumsum() / np.sqrt(n)
    pulses = np.diff(np.floor(np.cumsum(contour / SR)), prepend=0.0)
    pulses *= 1.0 + 0.1 * rng.standard_normal(n)  # shimmer
    return lfilter([1.0], [1.0, -0.95], pulses)


def _speak(rng: np.random.Generator, phones, n: int, start: int | None = None) -> np.ndarray:
    """``phones`` spoken by a random speaker into ``n`` samples (start random unless given), unit segment RMS."""
    f0 = rng.uniform(80, 250)
    scale = rng.uniform(0.85, 1.15)
    rate = rng.uniform(0.8, 1.2)
    breath = rng.uniform(0.0, 0.25)
    durs = [int(PHONES[p][4] * 1e-3 * SR * rate * rng.uniform(0.75, 1.3)) for p in phones]
    if start is None:
        start = int(rng.uniform(FADE, max(FADE + 1, n - sum(durs) - FADE)))
    glottal = _pulse_train(rng, f0, n)
    speech = np.zeros(n)
    pos = start
    for p, dur in zip(phones, durs, strict=True):
        kind, freqs, bws, amp, _ = PHONES[p]
        freqs = [f * scale * rng.normal(1.0, 0.07) for f in freqs]
        lo, hi = max(pos - FADE, 0), min(pos + dur + FADE, n)
        pos += dur
        if hi - lo < 2 * FADE + 8:
            continue
        m = hi - lo
        exc = glottal[lo:hi] + breath * 0.05 * rng.standard_normal(m) if kind == "voiced" else rng.standard_normal(m)
        seg = lfilter([1.0], _resonators(freqs, bws), exc)
        if kind == "stop":  # closure (silence) then a short burst
            burst = max(int(rng.uniform(0.012, 0.03) * SR), 8)
            b = min(burst + FADE, m)
            seg[: m - b] = 0.0
            seg[m - b :] *= np.exp(-np.arange(b) / (0.4 * burst))
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(FADE) / FADE)
        seg[:FADE] *= ramp
        seg[m - FADE :] *= ramp[::-1]
        rms = np.sqrt(np.mean(seg[seg != 0] ** 2)) if np.any(seg) else 1.0
        speech[lo:hi] += seg * amp / max(rms, 1e-12)
    return speech


def synthesize(rng: np.random.Generator, keyword: int) -> np.ndarray:
    """One utterance of class ``keyword``: float64 (8000,) audio samples at 8 kHz, arbitrary scale, with noise.

    The word may start up to 80 ms before or end up to 80 ms after the 1 s window (it is cut there); a random
    one-pole channel tilt is applied to speech + noise.
    """
    pad = int(0.1 * SR)
    phones = KEYWORDS[keyword][1]
    total = sum(PHONES[p][4] for p in phones) * 1e-3 * SR
    start = int(rng.uniform(pad - 0.08 * SR, max(pad + 1.0, pad + N_AUDIO - total + 0.08 * SR)))
    speech = _speak(rng, phones, N_AUDIO + 2 * pad, start)[pad : pad + N_AUDIO]
    speech *= 10 ** (rng.uniform(-12, 0) / 20)
    audio = speech + _noise(rng, np.mean(speech**2))
    return lfilter([1.0, -rng.uniform(-0.5, 0.5)], [1.0], audio)


def _noise(rng: np.random.Generator, speech_power: float) -> np.ndarray:
    """1 s of background noise at an SNR of 5-20 dB: white, pink-ish, hum + coloured hiss, or babble."""
    kind = rng.integers(4)
    if kind == 0:
        w = rng.standard_normal(N_AUDIO)
    elif kind == 1:
        w = lfilter([1.0], [1.0, -0.97], rng.standard_normal(N_AUDIO))
    elif kind == 2:
        t = np.arange(N_AUDIO) / SR
        hum = np.sin(2 * np.pi * rng.choice([50, 60]) * t + rng.uniform(0, 6.3))
        w = lfilter([1.0], _resonators([rng.uniform(300, 1500)], [800]), rng.standard_normal(N_AUDIO)) + 3 * hum
    else:  # babble: 3 other "speakers" saying random phone strings
        names = list(PHONES)
        w = sum(_speak(rng, [names[i] for i in rng.integers(len(names), size=6)], N_AUDIO) for _ in range(3))
        w = w + 0.05 * rng.standard_normal(N_AUDIO)
    snr_db = rng.uniform(5, 20)
    return w * np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(w**2))


def _mel_filterbank() -> np.ndarray:
    """(NFFT // 2 + 1, N_MELS) triangular mel filters from 20 Hz to SR / 2."""
    mel = np.linspace(2595 * np.log10(1 + 20 / 700), 2595 * np.log10(1 + SR / 2 / 700), N_MELS + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    bins = np.fft.rfftfreq(NFFT, 1 / SR)
    fb = np.zeros((bins.size, N_MELS))
    for m in range(N_MELS):
        lo, c, hi = hz[m], hz[m + 1], hz[m + 2]
        fb[:, m] = np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
    return fb


def mfcc(audio: np.ndarray) -> np.ndarray:
    """(N, 8000) audio -> (N, 49, 10) MFCCs (log-mel, natural log of power, orthonormal DCT-II)."""
    emph = np.concatenate([audio[:, :1], audio[:, 1:] - 0.97 * audio[:, :-1]], axis=1)
    n_frames = 1 + (N_AUDIO - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = emph[:, idx] * np.hamming(WIN)
    power = np.abs(np.fft.rfft(frames, NFFT, axis=-1)) ** 2
    logmel = np.log(power @ _mel_filterbank() + 1e-10)
    return dct(logmel, type=2, norm="ortho", axis=-1)[..., :N_MFCC]


def generate(seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST) -> dict[str, np.ndarray]:
    """The data set at ``seed``: x float32 (N, 1, 49, 10) standardized MFCCs, y int64 (N,) keyword classes 0..9."""
    rng = np.random.default_rng([seed, 1001])
    n = n_train + n_test
    y = rng.permutation(np.arange(n) % len(KEYWORDS))
    feats = np.empty((n, 1 + (N_AUDIO - WIN) // HOP, N_MFCC))
    for lo in range(0, n, 500):
        audio = np.stack([synthesize(rng, int(k)) for k in y[lo : lo + 500]])
        feats[lo : lo + 500] = mfcc(audio)
    x_tr, x_te = standardize(feats[:n_train], feats[n_train:], axis=(0, 1))
    return {
        "x_train": x_tr[:, None],
        "y_train": y[:n_train].astype(np.int64),
        "x_test": x_te[:, None],
        "y_test": y[n_train:].astype(np.int64),
    }


if __name__ == "__main__":
    main(NAME, VERSION, generate)
