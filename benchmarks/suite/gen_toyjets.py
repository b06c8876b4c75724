"""Toy jet tagging at the hls4ml jet tagger's shape: 16 high-level features, 5 classes (q, g, W, Z, t).

x float32 (N, 16) standardized features, y int64 (N,) with 0 = q, 1 = g, 2 = W, 3 = Z, 4 = t; 10000 train / 2500
test, balanced. Energies, momenta and masses are in GeV, angles in units of Delta R = sqrt(d_eta^2 + d_phi^2).

Generator (numpy, per jet): a parent of pT ~ N(1000, 60) GeV at eta ~ U(-1, 1), phi = 0.

- q / g: one massless parton that showers with colour factor C_F = 4/3 (quark) or C_A = 3 (gluon, so more,
  softer and wider radiation);
- W (80.4 GeV) / Z (91.2 GeV), Breit-Wigner widths 2.1 / 2.5 GeV: a two-body decay to quarks, the decay angle
  70 % longitudinal (sin^2 theta*) and 30 % transverse (1 + cos^2 theta*), boosted to the lab, so the two prongs
  are ~2m/pT apart; each prong showers inside the cone of the prong-prong angle (a colour singlet);
- t (172.5 GeV, width 1.4): t -> b W (b mass 4.8 GeV), W -> q q', three prongs.

Shower: per parton a Poisson number of primary emissions (alpha_s = 0.2, density 2 alpha_s C / pi uniform in the
Lund plane ln 1/theta x ln 1/z, k_t > 1 GeV, theta < the parton's angular limit), each emission a gluon that
showers again inside its own angle (angular ordering), the emitter recoiling in pT; every final parton then
fragments into 1 + Poisson(0.9 ln(pT / 0.5 GeV)) hadrons sharing its pT (Dirichlet) with a ~0.3 GeV / pT angular
spread. The decaying parents' hadrons are then reshuffled (boosted to their rest frame, momenta rescaled,
boosted back) so that they sum to the parent's 4-momentum. Soft underlying event (Poisson(4) particles, pT ~
Exp(0.7 GeV), uniform in the cone), a per-jet energy scale N(1, 0.06), per-particle pT smearing 8 % and angle
smearing 0.01; constituents within Delta R < 0.8 of the parent axis with pT > 0.5 GeV, at most 80 (leading).

Features (from the constituents' pT, eta, phi, as massless 4-vectors): 0 jet mass, 1 multiplicity, 2 pT dispersion
sqrt(sum pT^2) / sum pT, 3 girth sum pT dR / sum pT, 4-6 N-subjettiness tau1, tau2, tau3 (beta = 1, normalized by
sum pT x 0.8), 7 tau21, 8 tau32, 9-10 C2 = e3 / e2^2 at beta = 1, 2, 11-12 D2 = e3 / e2^3 at beta = 1, 2 (energy
correlation functions over all pairs / triples, e3 = tr((diag(z) A)^3) / 6), 13 leading constituent pT fraction, 14
mass of the two hardest of the 3 subjets, 15 pT balance min(pT1, pT2) / (pT1 + pT2) of the 2 subjets. The
N-subjettiness axes and subjets come from a pT-weighted k-means in (eta, phi) (hardest-constituent and
farthest-weighted seeding, 8 Lloyd steps). Features are standardized with the training set's mean and std; D2 and
the taus enter as log10 (heavy tails).

How this differs from the hls4ml LHC jet data (OpenML ``hls4ml_lhc_jets_hlf``, Duarte et al. 2018): that set has
Pythia 8 jets with full parton showering, hadronization and underlying event passed through a Delphes detector
simulation (particle-flow candidates, anti-kt R = 0.8), and its 16 features are mMDT-groomed energy-correlation
observables (zlogz, C1/C2/D2/M2/N2 at several beta, groomed mass, multiplicity). Here there is no real parton
shower (a toy Lund-plane cascade), no hadronization model beyond the even splitting, no detector beyond Gaussian
smearing, no grooming, and different feature definitions: the numbers are not comparable, only the shape (16
features, 5 classes) and the physics flavour (prong counting, q/g radiation differences, W/Z mass proximity).
"""

from __future__ import annotations

import math

import numpy as np
from datacache import classification_split, main

NAME = "toyjets"
VERSION = 1
CLASSES = ("q", "g", "W", "Z", "t")
N_TRAIN, N_TEST = 10000, 2500
R = 0.8
MAX_CONST = 80
ALPHA_S, KT_MIN, C_F, C_A = 0.2, 1.0, 4.0 / 3.0, 3.0
FEATURES = ("mass", "multiplicity", "ptd", "girth", "log_tau1", "log_tau2", "log_tau3", "tau21", "tau32",
            "c2_b1", "c2_b2", "log_d2_b1", "log_d2_b2", "lead_frac", "m_subjets12", "z_balance")  # fmt: skip


def _p4(pt, eta, phi):
    """Massless 4-vectors (..., 4) = (E, px, py, pz) from pT (GeV), eta, phi."""
    pt, eta, phi = np.asarray(pt, float), np.asarray(eta, float), np.asarray(phi, float)
    return np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)


def _ptetaphi(p):
    """(pT, eta, phi) of 4-vectors (..., 4)."""
    pt = np.hypot(p[..., 1], p[..., 2])
    return pt, np.arcsinh(p[..., 3] / np.maximum(pt, 1e-12)), np.arctan2(p[..., 2], p[..., 1])


def _mass(p):
    return np.sqrt(np.maximum(p[..., 0] ** 2 - (p[..., 1:] ** 2).sum(-1), 0.0))


def _boost(p, beta):
    """Boost 4-vectors ``p`` (n, 4) by velocity ``beta`` (3,)."""
    b2 = float(beta @ beta)
    if b2 < 1e-16:
        return p
    gamma = 1.0 / math.sqrt(1.0 - b2)
    bp = p[:, 1:] @ beta
    out = np.empty_like(p)
    out[:, 0] = gamma * (p[:, 0] + bp)
    out[:, 1:] = p[:, 1:] + ((gamma - 1.0) * bp / b2 + gamma * p[:, :1].T[0])[:, None] * beta
    return out


def _bw(rng, m, width):
    return m + width * math.tan(math.pi * (rng.random() - 0.5)) * 0.5 if width else m


def _decay(rng, parent, m1, m2, longitudinal):
    """Two-body decay of the 4-vector ``parent`` (4,) into masses m1, m2: the daughters' 4-vectors (2, 4)."""
    mm = _mass(parent)
    pstar = math.sqrt(max((mm**2 - (m1 + m2) ** 2) * (mm**2 - (m1 - m2) ** 2), 0.0)) / (2 * mm)
    while True:  # cos theta* w.r.t. the flight direction: sin^2 (longitudinal) or 1 + cos^2 (transverse)
        c = rng.uniform(-1, 1)
        if rng.random() < ((1 - c * c) if longitudinal else (1 + c * c) / 2):
            break
    n = parent[1:] / np.linalg.norm(parent[1:])
    e1 = np.cross(n, [0.0, 0.0, 1.0] if abs(n[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    psi = rng.uniform(0, 2 * math.pi)
    d = c * n + math.sqrt(1 - c * c) * (math.cos(psi) * e1 + math.sin(psi) * e2)
    rest = np.array([[math.hypot(pstar, m1), *(pstar * d)], [math.hypot(pstar, m2), *(-pstar * d)]])
    return _boost(rest, parent[1:] / parent[0])


def _shower(rng, pt, eta, phi, color, theta_max, out):
    """Append the final partons (pT, eta, phi) of a parton's angular-ordered toy shower to ``out``."""
    u1 = math.log(0.5 * pt * theta_max / KT_MIN)
    if u1 <= 0:
        out.append((pt, eta, phi))
        return
    n = rng.poisson(ALPHA_S * color * u1 * u1 / math.pi)
    emissions = sorted(((u1 * math.sqrt(rng.random()), rng.random()) for _ in range(n)), reverse=True)
    for u, r in emissions:  # decreasing angle; the triangle 0 <= s <= u <= u1 at uniform density
        theta = 2 * KT_MIN * math.exp(u) / pt
        z = 0.5 * math.exp(-u * r)
        if z * pt * theta < KT_MIN or theta > theta_max:  # the emitter lost pT since: below the cutoff now
            continue
        psi = rng.uniform(0, 2 * math.pi)
        _shower(rng, z * pt, eta + theta * math.cos(psi), phi + theta * math.sin(psi), C_A, theta, out)
        pt *= 1 - z
    out.append((pt, eta, phi))


def _hadronize(rng, partons):
    """Hadrons (n, 3) = (pT, eta, phi) from final partons: even Dirichlet splitting, ~0.3 GeV / pT spread."""
    hadrons = []
    for pt, eta, phi in partons:
        k = 1 + rng.poisson(0.9 * math.log(max(pt / 0.5, 1.0)))
        frac = rng.dirichlet(np.ones(k)) * pt
        spread = np.minimum(0.3 / np.maximum(frac, 0.1), 0.15)
        hadrons.append(
            np.stack([frac, eta + spread * rng.standard_normal(k), phi + spread * rng.standard_normal(k)], 1)
        )
    return np.concatenate(hadrons)


def _reshuffle(hadrons, parent):
    """Rescale massless hadrons (pT, eta, phi) so that their 4-vectors sum to ``parent`` (4,)."""
    p = _p4(hadrons[:, 0], hadrons[:, 1], hadrons[:, 2])
    s = p.sum(0)
    rest = _boost(p, -s[1:] / s[0])
    rest[:, 1:] *= _mass(parent) / rest[:, 0].sum()
    rest[:, 0] = np.linalg.norm(rest[:, 1:], axis=1)
    return np.stack(_ptetaphi(_boost(rest, parent[1:] / parent[0])), 1)


def jet(rng: np.random.Generator, label: int) -> np.ndarray:
    """One jet of class ``label``: constituents (n, 3) = (pT GeV, eta, phi) relative to the parent axis, pT-sorted."""
    pt0, eta0 = max(rng.normal(1000, 60), 700.0), rng.uniform(-1, 1)
    cls = CLASSES[label]
    if cls in ("q", "g"):
        partons: list = []
        _shower(rng, pt0, eta0, 0.0, C_F if cls == "q" else C_A, R, partons)
        hadrons = _hadronize(rng, partons)
    else:
        m = {"W": _bw(rng, 80.4, 2.1), "Z": _bw(rng, 91.2, 2.5), "t": _bw(rng, 172.5, 1.4)}[cls]
        parent = _p4(pt0, eta0, 0.0)
        parent[0] = math.sqrt(parent[0] ** 2 + m * m)
        longitudinal = rng.random() < 0.7
        if cls == "t":
            b, w = _decay(rng, parent, 4.8, _bw(rng, 80.4, 2.1), longitudinal)
            prongs, limits = [b, *_decay(rng, w, 0.0, 0.0, longitudinal)], [R]
        else:
            prongs, limits = list(_decay(rng, parent, 0.0, 0.0, longitudinal)), []
        kin = [_ptetaphi(p) for p in prongs]
        qq = math.hypot(kin[-1][1] - kin[-2][1], kin[-1][2] - kin[-2][2])  # the W/Z quark pair's opening
        limits += [qq, qq]
        partons = []
        for (pt, eta, phi), lim in zip(kin, limits, strict=True):
            _shower(rng, float(pt), float(eta), float(phi), C_F, lim, partons)
        hadrons = _reshuffle(_hadronize(rng, partons), parent)
    n_ue = rng.poisson(4)
    ue_r, ue_a = R * np.sqrt(rng.random(n_ue)), rng.uniform(0, 2 * np.pi, n_ue)
    ue = np.stack([rng.exponential(0.7, n_ue), eta0 + ue_r * np.cos(ue_a), ue_r * np.sin(ue_a)], 1)
    c = np.concatenate([hadrons, ue])
    c[:, 0] *= rng.normal(1.0, 0.06) * np.clip(rng.normal(1.0, 0.08, len(c)), 0.5, 1.5)
    c[:, 1:] += 0.01 * rng.standard_normal((len(c), 2))
    c[:, 1] -= eta0
    c = c[(np.hypot(c[:, 1], c[:, 2]) < R) & (c[:, 0] > 0.5)]
    return c[np.argsort(-c[:, 0])][:MAX_CONST]


def _kmeans_axes(pt, eta, phi, n_axes, steps=8):
    """pT-weighted k-means axes (B, n_axes, 2) in (eta, phi) of padded constituents (B, M) (pt = 0: padding)."""
    b = np.arange(len(pt))
    axes = [np.stack([eta[:, 0], phi[:, 0]], 1)]  # the hardest constituent
    for _ in range(1, n_axes):
        d2 = np.min([(eta - a[:, :1]) ** 2 + (phi - a[:, 1:]) ** 2 for a in axes], axis=0)
        far = np.argmax(pt * d2, axis=1)
        axes.append(np.stack([eta[b, far], phi[b, far]], 1))
    ax = np.stack(axes, 1)
    for _ in range(steps):
        d2 = (eta[:, :, None] - ax[None, :, :, 0].transpose(1, 0, 2)) ** 2 + (phi[:, :, None] - ax[:, None, :, 1]) ** 2
        w = pt[:, :, None] * (np.argmin(d2, axis=2)[:, :, None] == np.arange(n_axes))
        tot = w.sum(1)
        new = (
            np.stack([(w * eta[:, :, None]).sum(1), (w * phi[:, :, None]).sum(1)], 2)
            / np.maximum(tot, 1e-12)[..., None]
        )
        ax = np.where(tot[..., None] > 0, new, ax)
    d2 = (eta[:, :, None] - ax[:, None, :, 0]) ** 2 + (phi[:, :, None] - ax[:, None, :, 1]) ** 2
    return ax, np.sqrt(d2)


def features(consts: list[np.ndarray]) -> np.ndarray:
    """(B, 16) float64 features (see the module docstring) of B jets' constituents (n_i, 3) = (pT, eta, phi)."""
    bsz = len(consts)
    pt, eta, phi = np.zeros((bsz, MAX_CONST)), np.zeros((bsz, MAX_CONST)), np.zeros((bsz, MAX_CONST))
    for i, c in enumerate(consts):
        pt[i, : len(c)], eta[i, : len(c)], phi[i, : len(c)] = c.T
    p4 = _p4(pt, eta, phi)
    jet4 = p4.sum(1)
    _, jeta, jphi = _ptetaphi(jet4)
    eta, phi = eta - jeta[:, None], phi - jphi[:, None]
    sum_pt = pt.sum(1)
    z = pt / sum_pt[:, None]
    dr_axis = np.hypot(eta, phi)
    f = np.zeros((bsz, 16))
    f[:, 0], f[:, 1] = _mass(jet4), (pt > 0).sum(1)
    f[:, 2], f[:, 3] = np.sqrt((pt**2).sum(1)) / sum_pt, (z * dr_axis).sum(1)
    taus, subjets = [], {}
    for n in (1, 2, 3):
        _, dr = _kmeans_axes(pt, eta, phi, n)
        taus.append((pt * dr.min(2)).sum(1) / (sum_pt * R))
        subjets[n] = (p4[:, :, None, :] * (np.argmin(dr, 2)[:, :, None] == np.arange(n))[..., None]).sum(1)
    taus = np.maximum(np.stack(taus, 1), 1e-3)
    f[:, 4:7] = np.log10(taus)
    f[:, 7], f[:, 8] = taus[:, 1] / taus[:, 0], taus[:, 2] / taus[:, 1]
    dr2 = (eta[:, :, None] - eta[:, None, :]) ** 2 + (phi[:, :, None] - phi[:, None, :]) ** 2
    for j, beta in enumerate((1, 2)):
        a = dr2 ** (beta / 2)
        e2 = 0.5 * np.einsum("bi,bij,bj->b", z, a, z)
        m = z[:, :, None] * a
        e3 = np.einsum("bij,bji->b", m @ m, m) / 6.0
        e2 = np.maximum(e2, 1e-12)
        f[:, 9 + j], f[:, 11 + j] = e3 / e2**2, np.log10(np.maximum(e3 / e2**3, 1e-6))
    f[:, 13] = pt.max(1) / sum_pt
    s3 = subjets[3]
    order = np.argsort(-np.hypot(s3[..., 1], s3[..., 2]), axis=1)
    lead2 = np.take_along_axis(s3, order[:, :2, None], axis=1).sum(1)
    f[:, 14] = _mass(lead2)
    s2pt = np.hypot(subjets[2][..., 1], subjets[2][..., 2])
    f[:, 15] = s2pt.min(1) / np.maximum(s2pt.sum(1), 1e-12)
    return f


def generate(seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST) -> dict[str, np.ndarray]:
    """The data set at ``seed``: x float32 (N, 16) standardized features, y int64 (N,) classes q, g, W, Z, t."""
    rng = np.random.default_rng([seed, 1005])
    n = n_train + n_test
    y = rng.permutation(np.arange(n) % len(CLASSES))
    feats = np.concatenate([features([jet(rng, int(k)) for k in y[lo : lo + 500]]) for lo in range(0, n, 500)])
    return classification_split(feats, y, n_train, axis=0)


if __name__ == "__main__":
    main(NAME, VERSION, generate)
