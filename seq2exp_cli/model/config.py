"""ModelConfig: every hyper-parameter of Seq2Exp and its baselines, at the reference defaults.

Presets (METHOD.md section 2):

| | soft | hard |
|---|---|---|
| beta_min | 1 | 0 |
| prior_scale | 10 | 1 |
| mu, sigma | 0.1, 10 | 0.45, 0.1 |
| kl_weight | 0.01 | 0.01 |

The baselines ``nomask``, ``seqonly`` and ``signalprior`` use the soft preset's Beta parameters.

Signal prior defaults by signal name (weight w, offset b): h3k27ac (0.4, 1.5), dnase/atac (0.4, 0.2),
hic (0.2, 1.0), anything else (0.4, 1.0). Weights are renormalised to sum to 1, so the prior's
total pseudo-count scale is ``prior_scale`` whatever the number of signals.

Resolution R: 1 is the faithful per-bp model (the default; use it on a GPU). On CPU a coarser
R makes long windows affordable: ``recommended_resolution("cpu")`` = 100 (200 kb -> 2,000 bins).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from seq2exp_cli.errors import InputError

STEM_POOLS = ("mean", "max")
STEMS = ("conv", "kmer")
READOUTS = ("promoter", "additive", "factorized")
VARIANTS = ("soft", "hard", "nomask", "seqonly", "signalprior")

PRESETS: dict[str, dict[str, float]] = {
    "soft": {"beta_min": 1.0, "prior_scale": 10.0, "mu": 0.1, "sigma": 10.0, "kl_weight": 0.01},
    "hard": {"beta_min": 0.0, "prior_scale": 1.0, "mu": 0.45, "sigma": 0.1, "kl_weight": 0.01},
}

_PRIOR_DEFAULTS = {"h3k27ac": (0.4, 1.5), "dnase": (0.4, 0.2), "atac": (0.4, 0.2), "hic": (0.2, 1.0)}
_PRIOR_OTHER = (0.4, 1.0)


def default_prior(signal_names: list[str]) -> tuple[list[float], list[float]]:
    """Prior (weights, offsets) for these signal names; weights renormalised to sum to 1."""
    pairs = [_PRIOR_DEFAULTS.get(name.lower(), _PRIOR_OTHER) for name in signal_names]
    total = sum(w for w, _ in pairs)
    return [w / total for w, _ in pairs], [b for _, b in pairs]


def recommended_resolution(device_type: str) -> int:
    """Default resolution R: 1 (faithful) on CUDA, 100 bp bins on CPU."""
    return 1 if device_type.startswith("cuda") else 100


@dataclass
class ModelConfig:
    """Hyper-parameters of one Seq2Exp model (or baseline); JSON-safe via to_dict/from_dict."""

    variant: str = "soft"
    window: int = 200_000
    resolution: int = 1
    d_model: int = 128
    n_layers: int = 4
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    signal_names: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    n_features: int = 0
    promoter_bp: int = 2000
    beta_min: float = 1.0
    prior_scale: float = 10.0
    prior_weights: list[float] = field(default_factory=list)
    prior_offsets: list[float] = field(default_factory=list)
    mu: float = 0.1
    sigma: float = 10.0
    kl_weight: float = 0.01
    mlp_hidden: int = 128
    hard_threshold: float = 0.5
    # Sequence stem: "conv" (one-hot convolution, motif detectors; Linear at R = 1) or "kmer" (a
    # learned embedding per canonical k-mer summed over the bin; see model/kmer_stem.py).
    stem: str = "conv"
    # k of the k-mer stem (4**k + 1 embedding rows).
    kmer_size: int = 6
    # The k-mer stem mixes each bin with this many neighbouring bins on each side.
    stem_neighbors: int = 1
    # L1 weight on the k-mer embedding rows (mean over rows of each row's L1 norm) added to the
    # training loss: Adam moves rare k-mers as fast as common ones, so without it the table
    # memorises genes through k-mers that occur by chance.
    kmer_l1: float = 0.0
    # Fixed motif-scanning filters beside the k-mer stem (2 per database motif, both strands,
    # set from a motif file by seed_stem_filters; not trained): the factorized gate reads their
    # per-bin maxima next to the k-mer features. 0 = none.
    motif_channels: int = 0
    # Width of the learned one-hot convolution of the R > 1 stem (motif detectors).
    stem_kernel: int = 15
    # How the R > 1 stem pools its per-bp motif detectors into a bin: "mean" or "max" (a 12-bp
    # motif is one position in a 200-bp bin; the max keeps it, the mean dilutes it R-fold).
    stem_pool: str = "mean"
    # How the predictor's output becomes one number. "promoter": mean over the central promoter
    # bins (the paper). "additive": also the log of the mask-weighted sum of a per-bin
    # contribution, so each kept bin adds to the prediction directly (see Seq2Exp.forward).
    # "factorized": no predictor stack; expression is read from the log of sum_b m_b a_b g_b, where
    # the activity a_b sees only the bin's signals and distance and the gate g_b only its sequence,
    # so what the sequence adds cannot be re-learned from the signals (Seq2Exp.forward).
    readout: str = "promoter"
    # The additive readout's bin head also reads the stem's motif features of the bin (not only
    # the predictor's output there): a bin's own motifs set its contribution without first
    # passing through the Mamba stack, which mixes in the whole window (and overfits few genes).
    bin_head_stem: bool = False
    # A bin of R bp counts as blacklisted when more than this fraction of its bases is.
    blacklist_bin_fraction: float = 0.5
    # The paper's soft generator sees DNA only; True feeds it e_seq + e_sig.
    generator_signals: bool = False
    # Floor on the Beta parameters (hard preset has beta_min = 0 and softplus can underflow).
    min_concentration: float = 1e-4
    rms_eps: float = 1e-5

    def __post_init__(self) -> None:
        self.signal_names = list(self.signal_names)
        self.feature_names = list(self.feature_names)
        if self.feature_names and not self.n_features:
            self.n_features = len(self.feature_names)
        if not self.prior_weights and not self.prior_offsets and self.signal_names:
            self.prior_weights, self.prior_offsets = default_prior(self.signal_names)
        self.prior_weights = [float(w) for w in self.prior_weights]
        self.prior_offsets = [float(b) for b in self.prior_offsets]
        self.validate()
        total = sum(self.prior_weights)
        self.prior_weights = [w / total for w in self.prior_weights] if total > 0 else self.prior_weights

    @property
    def n_signals(self) -> int:
        """Number of signal tracks S the model reads."""
        return len(self.signal_names)

    @property
    def n_bins(self) -> int:
        """Positions the Mamba stacks see: window // resolution."""
        return self.window // self.resolution

    def promoter_bins(self) -> tuple[int, int]:
        """[start, end) bin range covering the central promoter_bp bases (TSS at window // 2)."""
        start_bp = self.window // 2 - self.promoter_bp // 2
        end_bp = start_bp + self.promoter_bp
        return start_bp // self.resolution, -(-end_bp // self.resolution)

    def validate(self) -> None:
        """Raise InputError naming the offending value and the fix."""
        def bad(what: str, fix: str) -> None:
            raise InputError(f"model config: {what}; {fix}")

        if self.variant not in VARIANTS:
            bad(f"variant {self.variant!r} unknown", f"use one of {', '.join(VARIANTS)}")
        for name in ("window", "resolution", "d_model", "n_layers", "d_state", "d_conv", "expand",
                     "mlp_hidden", "stem_kernel"):
            if int(getattr(self, name)) < 1:
                bad(f"{name}={getattr(self, name)} must be >= 1", f"set {name} to a positive integer")
        if self.stem not in STEMS:
            bad(f"stem {self.stem!r} unknown", f"use one of {', '.join(STEMS)}")
        if not 1 <= int(self.kmer_size) <= 8:
            bad(f"kmer_size={self.kmer_size} must be in 1..8", "use k = 5-7 (6 is the default)")
        if int(self.motif_channels) < 0 or (self.motif_channels and self.stem != "kmer"):
            bad(f"motif_channels={self.motif_channels} needs stem 'kmer' (stem is {self.stem!r}) and >= 0",
                "set motif_channels = 0, or stem = \"kmer\"")
        if not self.kmer_l1 >= 0:
            bad(f"kmer_l1={self.kmer_l1} must be >= 0", "set kmer_l1 to 0 or a small positive weight (e.g. 0.01)")
        if int(self.stem_neighbors) < 0:
            bad(f"stem_neighbors={self.stem_neighbors} is negative", "set stem_neighbors >= 0")
        if self.stem_pool not in STEM_POOLS:
            bad(f"stem_pool {self.stem_pool!r} unknown", f"use one of {', '.join(STEM_POOLS)}")
        if self.readout not in READOUTS:
            bad(f"readout {self.readout!r} unknown", f"use one of {', '.join(READOUTS)}")
        if self.bin_head_stem and self.readout != "additive":
            bad(f"bin_head_stem needs readout 'additive' (readout is {self.readout!r})",
                "set readout = \"additive\" or drop bin_head_stem")
        if self.window % self.resolution:
            bad(f"window {self.window} is not a multiple of resolution {self.resolution}",
                "choose a resolution that divides the window (e.g. "
                + ", ".join(str(r) for r in _divisors_near(self.window, self.resolution)) + ")")
        if not 0 < self.promoter_bp <= self.window:
            bad(f"promoter_bp={self.promoter_bp} must be in 1..window ({self.window})", "lower promoter_bp")
        if self.n_features < 0:
            bad(f"n_features={self.n_features} is negative", "set n_features >= 0")
        if len(self.prior_weights) != self.n_signals or len(self.prior_offsets) != self.n_signals:
            bad(f"{len(self.prior_weights)} prior weights and {len(self.prior_offsets)} offsets for "
                f"{self.n_signals} signals {self.signal_names}", "give one weight and offset per signal")
        if any(w < 0 or not math.isfinite(w) for w in self.prior_weights) or (
                self.n_signals and sum(self.prior_weights) <= 0):
            bad(f"prior weights {self.prior_weights} must be finite, >= 0 and not all 0", "fix prior_weights")
        if self.variant == "signalprior" and not self.n_signals:
            bad("variant 'signalprior' needs at least one signal track", "use variant 'seqonly' or add tracks")
        if self.beta_min < 0 or self.prior_scale < 0:
            bad(f"beta_min={self.beta_min}, prior_scale={self.prior_scale} must be >= 0", "fix the preset")
        if not 0 < self.mu < 1 or self.sigma <= 0:
            bad(f"mu={self.mu} must be in (0, 1) and sigma={self.sigma} > 0", "fix mu/sigma")
        if self.kl_weight < 0:
            bad(f"kl_weight={self.kl_weight} is negative", "set kl_weight >= 0")
        if not 0 <= self.blacklist_bin_fraction < 1:
            bad(f"blacklist_bin_fraction={self.blacklist_bin_fraction}", "use a value in [0, 1)")

    @classmethod
    def preset(cls, variant: str = "soft", **overrides: Any) -> "ModelConfig":
        """A config with the variant's preset (soft values for the baselines) and overrides."""
        if variant not in VARIANTS:
            raise InputError(f"model config: variant {variant!r} unknown; use one of {', '.join(VARIANTS)}")
        values: dict[str, Any] = dict(PRESETS.get(variant, PRESETS["soft"]))
        values.update(overrides)
        return cls(variant=variant, **values)

    @classmethod
    def for_data(cls, data_config: dict, variant: str = "soft", **overrides: Any) -> "ModelConfig":
        """Config for a prepared dataset: data_config has keys window, signal_names, feature_names."""
        for key in ("window", "signal_names", "feature_names"):
            if key not in data_config:
                raise InputError(f"data config: key {key!r} missing (have {sorted(data_config)}); "
                                 "re-run seq2exp prepare")
        values: dict[str, Any] = {
            "window": int(data_config["window"]),
            "signal_names": list(data_config["signal_names"]),
            "feature_names": list(data_config["feature_names"]),
            "n_features": len(data_config["feature_names"]),
        }
        values.update(overrides)
        return cls.preset(variant, **values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (ints, floats, strings, lists, bools only)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        """Inverse of to_dict; unknown keys raise InputError (a newer checkpoint format)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"model config: unknown keys {unknown}; the checkpoint needs a newer seq2exp")
        return cls(**values)


def _divisors_near(window: int, resolution: int, count: int = 4) -> list[int]:
    """Resolutions that divide ``window``, closest to ``resolution`` first (1 always divides)."""
    found = [r for r in range(1, min(window, 4 * resolution + 1) + 1) if window % r == 0]
    return sorted(sorted(found, key=lambda r: (abs(r - resolution), r))[:count])

