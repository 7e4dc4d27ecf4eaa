"""Seq2Exp: generator -> Beta information-bottleneck mask -> predictor (METHOD.md section 2).

Reads top to bottom: helpers (one-hot, pooling, mask expansion), the output record, the stem,
and the model that wires them. Shapes: B batch, L window (bp), R resolution, n = L // R bins,
S signals, F per-gene features, d = d_model.

Variants (config.variant):
- ``soft``: generator over e_seq, mask ~ Beta (rsample in training, mean in evaluation).
- ``hard``: mask = 1[sample >= 0.5] with a straight-through gradient; what the predictor reads
  at each bin is multiplied by that mask value, so the prediction loss reaches the generator (the reference
  selects by boolean indexing and only the KL trains its generator, METHOD section 4.2).
- ``nomask``: predictor on all positions ("Caduceus with signals").
- ``seqonly``: predictor on the DNA only (signals ignored).
- ``signalprior``: the mask comes from the fixed signal prior alone (no generator).
The mask scales the predictor's first-layer input *after* its RMSNorm (MambaStack input_scale):
multiplied in before the norm, a soft mask would be divided out again. Overrides, always: mask 0 on blacklisted positions, then 1 on the central promoter_bp (the
promoter wins). The KL is averaged over positions neither override touches (METHOD 4.9).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seq2exp_cli.errors import InputError
from seq2exp_cli.losses import beta_kl
from seq2exp_cli.model.backbone import MambaStack
from seq2exp_cli.model.config import ModelConfig
from seq2exp_cli.model.kmer_stem import KmerStem
from seq2exp_cli.model.stem_ops import motif_max_pool, motif_mean_gelu

logger = logging.getLogger(__name__)

MASKED_VARIANTS = ("soft", "hard", "signalprior")


def one_hot(seq: torch.Tensor) -> torch.Tensor:
    """Codes [B, L] (A0 C1 G2 T3, 4 = N/padding) -> float one-hot [B, L, 4]; code 4 is all-zero."""
    return F.one_hot(seq.long().clamp(0, 4), 5)[..., :4].float()


def pool_bins(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Mean over consecutive R-bp bins along dim 1: [B, L, C] -> [B, L // R, C]."""
    if resolution == 1:
        return x
    b, length = x.shape[:2]
    return x.reshape(b, length // resolution, resolution, *x.shape[2:]).mean(2)


def expand_mask(mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """Per-bin mask [B, L // R] -> per-bp [B, L] (each bin's value repeated R times)."""
    return mask if resolution == 1 else mask.repeat_interleave(resolution, dim=1)


@dataclass
class Seq2ExpOutput:
    """prediction [B]; kl [B] (mean KL over non-overridden bins; zeros without a mask);
    mask [B, n] (the mask used); alpha, beta [B, n] or None (nomask/seqonly); contribution [B, n]
    (mask x per-bin contribution, additive and factorized readouts, else None); penalty: a scalar
    regulariser the loss adds (the k-mer stem's weighted L1 in training), or None; evidence [B, n]
    (factorized readout: m_b a_b max(g_b - g_null, 0), the part of the contribution the bin's
    sequence adds beyond a sequence without k-mer evidence), or None."""

    prediction: torch.Tensor
    kl: torch.Tensor
    mask: torch.Tensor
    alpha: torch.Tensor | None
    beta: torch.Tensor | None
    contribution: torch.Tensor | None = None
    penalty: torch.Tensor | None = None
    evidence: torch.Tensor | None = None


class Stem(nn.Module):
    """Embeddings. R = 1: e_seq = Linear(4 -> d)(one-hot), e_sig = Linear(S -> d)(signals).
    R > 1: e_seq = mean over R-bp bins of GELU(Conv1d(4 -> d, stem_kernel)(one-hot)) (learned motif
    detectors, since a mean of one-hot loses order); with ``stem_pool = "max"``,
    GELU(max over the bin of the convolution) (a motif anywhere in the bin counts in full).
    e_sig = Linear(S -> d)(mean of signals per bin).
    seq [B, L] -> e_seq [B, n, d]; signals [B, L, S] -> (e_sig [B, n, d] or None, pooled [B, n, S])."""

    def __init__(self, cfg: ModelConfig, use_signals: bool) -> None:
        super().__init__()
        self.resolution = cfg.resolution
        self.max_pool = cfg.stem_pool == "max"
        if cfg.stem == "kmer":
            self.seq_embed: nn.Module = KmerStem(cfg.kmer_size, cfg.d_model, cfg.resolution, cfg.stem_neighbors)
        elif cfg.resolution == 1:
            self.seq_embed: nn.Module = nn.Linear(4, cfg.d_model)
        else:
            self.seq_embed = nn.Conv1d(4, cfg.d_model, cfg.stem_kernel, padding=cfg.stem_kernel // 2)
        self.sig_embed = nn.Linear(cfg.n_signals, cfg.d_model) if use_signals and cfg.n_signals else None
        # fixed motif scan (k-mer stem + a motif database): weights set by seed_stem_filters, never trained
        self.motif_scan = None
        if cfg.motif_channels:
            self.motif_scan = nn.Conv1d(4, cfg.motif_channels, cfg.stem_kernel, padding=cfg.stem_kernel // 2)
            self.motif_scan.requires_grad_(False)

    def motif_features(self, seq: torch.Tensor) -> torch.Tensor | None:
        """ReLU of each fixed motif filter's maximum over the bin, [B, n, motif_channels]; None
        without a motif scan."""
        if self.motif_scan is None:
            return None
        with torch.no_grad():
            return F.relu(motif_max_pool(seq, self.motif_scan.weight, self.motif_scan.bias, self.resolution))

    def embed_seq(self, seq: torch.Tensor) -> torch.Tensor:
        if isinstance(self.seq_embed, KmerStem):
            return self.seq_embed(seq)
        if self.resolution == 1:
            return self.seq_embed(one_hot(seq))
        if self.max_pool:
            # GELU after the max: the same detectors at a fraction of the per-bp activation cost;
            # motif_max_pool never builds the per-bp detector outputs (see stem_ops)
            return F.gelu(motif_max_pool(seq, self.seq_embed.weight, self.seq_embed.bias, self.resolution))
        if not torch.is_grad_enabled():  # inference: the same means from table look-ups (stem_ops)
            return motif_mean_gelu(seq, self.seq_embed.weight, self.seq_embed.bias, self.resolution)
        oh = one_hot(seq)
        length = oh.shape[1]
        x = self.seq_embed(oh.transpose(1, 2))[..., :length]  # [B, d, L]
        return pool_bins(F.gelu(x).transpose(1, 2), self.resolution)

    def embed_signals(self, pooled: torch.Tensor) -> torch.Tensor | None:
        return None if self.sig_embed is None else self.sig_embed(pooled)


class Seq2Exp(nn.Module):
    """The Seq2Exp model (or one of its baselines) built from a ModelConfig."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        cfg = config
        self.variant = cfg.variant
        self.uses_signals = cfg.variant != "seqonly"
        self.stem = Stem(cfg, self.uses_signals)

        def stack() -> MambaStack:
            return MambaStack(cfg.d_model, cfg.n_layers, cfg.d_state, cfg.d_conv, cfg.expand, cfg.rms_eps)

        self.generator = stack() if cfg.variant in ("soft", "hard") else None
        self.mask_head = nn.Linear(cfg.d_model, 2) if self.generator is not None else None
        factorized = cfg.readout == "factorized"
        self.predictor = None if factorized else stack()
        additive = cfg.readout == "additive"
        # additive readout: per-bin contribution softplus(bin_head([h_b, distance_b, signals_b])) >= 0,
        # one more head input. distance_b = log1p(|bin centre - TSS| / 1 kb): contact falls with
        # distance and nothing else tells a bin how far from the TSS it lies; signals_b (the bin's
        # pooled tracks) give the head activity and contact directly, as in ABC's activity x contact
        bin_inputs = cfg.d_model * (1 + int(cfg.bin_head_stem)) + 1 + (cfg.n_signals if self.uses_signals else 0)
        self.bin_head = nn.Sequential(nn.Linear(bin_inputs, cfg.mlp_hidden), nn.ReLU(),
                                      nn.Linear(cfg.mlp_hidden, 1)) if additive else None
        # factorized readout: gate g_b = softplus(gate_head(GELU(e_seq_b))) reads the sequence only,
        # activity a_b = softplus(activity_head([signals_b, distance_b])) the signals and distance only
        self.gate_head = nn.Sequential(nn.Linear(cfg.d_model + cfg.motif_channels, cfg.mlp_hidden), nn.ReLU(),
                                       nn.Linear(cfg.mlp_hidden, 1)) if factorized else None
        n_activity = 1 + (cfg.n_signals if self.uses_signals else 0)
        self.activity_head = nn.Sequential(nn.Linear(n_activity, cfg.mlp_hidden), nn.ReLU(),
                                           nn.Linear(cfg.mlp_hidden, 1)) if factorized else None
        head_inputs = cfg.n_features + (1 if factorized else cfg.d_model + int(additive))
        self.head = nn.Sequential(
            nn.Linear(head_inputs, cfg.mlp_hidden), nn.ReLU(),
            nn.Linear(cfg.mlp_hidden, cfg.mlp_hidden), nn.ReLU(),
            nn.Linear(cfg.mlp_hidden, 1))
        self.register_buffer("prior_weights", torch.tensor(cfg.prior_weights, dtype=torch.float32), persistent=False)
        self.register_buffer("prior_offsets", torch.tensor(cfg.prior_offsets, dtype=torch.float32), persistent=False)
        p0, p1 = cfg.promoter_bins()
        promoter = torch.zeros(cfg.n_bins, dtype=torch.bool)
        promoter[p0:p1] = True
        self.register_buffer("promoter", promoter, persistent=False)
        centre_bp = torch.arange(cfg.n_bins, dtype=torch.float32) * cfg.resolution + cfg.resolution / 2
        distance = torch.log1p((centre_bp - cfg.window // 2).abs() / 1000.0)
        self.register_buffer("tss_distance", distance, persistent=False)

    # -- input checks ---------------------------------------------------------------------
    def _check(self, seq: torch.Tensor, signals: torch.Tensor, features: torch.Tensor,
               blacklist: torch.Tensor | None) -> None:
        cfg = self.config
        if seq.dim() != 2 or seq.shape[1] != cfg.window:
            raise InputError(f"model input: seq shape {tuple(seq.shape)} is not [B, {cfg.window}]; "
                             "use the window the model was built for")
        b = seq.shape[0]
        if self.uses_signals and tuple(signals.shape) != (b, cfg.window, cfg.n_signals):
            raise InputError(f"model input: signals shape {tuple(signals.shape)} is not "
                             f"[{b}, {cfg.window}, {cfg.n_signals}] ({cfg.signal_names}); use matching tracks")
        if tuple(features.shape) != (b, cfg.n_features):
            raise InputError(f"model input: features shape {tuple(features.shape)} is not [{b}, {cfg.n_features}]; "
                             "use the feature columns the model was built for")
        if blacklist is not None and tuple(blacklist.shape) != (b, cfg.window):
            raise InputError(f"model input: blacklist shape {tuple(blacklist.shape)} is not [{b}, {cfg.window}]")

    # -- pieces -----------------------------------------------------------------------------
    def _bin_blacklist(self, blacklist: torch.Tensor | None, b: int, device: torch.device) -> torch.Tensor:
        """bool [B, n]: bins whose blacklisted fraction exceeds blacklist_bin_fraction (any bp at R=1)."""
        if blacklist is None:
            return torch.zeros(b, self.config.n_bins, dtype=torch.bool, device=device)
        frac = pool_bins(blacklist.float()[..., None], self.config.resolution)[..., 0]
        return frac > self.config.blacklist_bin_fraction

    def _prior(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Signal prior pseudo-counts sum_i w_i alpha2_i, sum_i w_i beta2_i: pooled [B, n, S] -> [B, n] x 2.

        Negative signal values (possible after a user normalisation) are clipped at 0 here so
        the pseudo-counts stay valid."""
        cfg = self.config
        x = pooled.clamp(min=0)
        alpha2 = cfg.prior_scale * ((x + cfg.beta_min) * self.prior_weights).sum(-1)
        beta2 = cfg.prior_scale * ((self.prior_offsets + cfg.beta_min) * self.prior_weights).sum()
        return alpha2, beta2.expand_as(alpha2)

    def _beta_params(self, e_seq: torch.Tensor, e_sig: torch.Tensor | None, pooled: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Combined Beta(alpha, beta) per bin, each [B, n]."""
        cfg = self.config
        if self.generator is not None:
            g_in = e_seq + e_sig if (cfg.generator_signals and e_sig is not None) else e_seq
            logits = self.mask_head(self.generator(g_in))  # [B, n, 2]: (l0, l1)
            alpha = F.softplus(logits[..., 1]) + cfg.beta_min
            beta = F.softplus(logits[..., 0]) + cfg.beta_min
        else:
            alpha = beta = torch.zeros(pooled.shape[:2], device=pooled.device, dtype=e_seq.dtype)
        if cfg.n_signals and self.uses_signals:
            alpha2, beta2 = self._prior(pooled.to(alpha.dtype))
            alpha, beta = alpha + alpha2, beta + beta2
        return alpha.clamp(min=cfg.min_concentration), beta.clamp(min=cfg.min_concentration)

    def _sample_mask(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Training: reparameterised Beta sample (hard: thresholded, straight-through).
        Evaluation: mean (hard: mean >= threshold)."""
        thr = self.config.hard_threshold
        if self.training:
            sample = torch.distributions.Beta(alpha, beta).rsample()
            if self.variant == "hard":
                # Forward value 0/1, gradient of the soft sample (straight-through estimator).
                return (sample >= thr).to(sample.dtype) + (sample - sample.detach())
            return sample
        mean = alpha / (alpha + beta)
        return (mean >= thr).to(mean.dtype) if self.variant == "hard" else mean

    def _kl(self, alpha: torch.Tensor, beta: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
        """Mean over free (non-overridden) bins of KL(q || r), r = Beta(sigma, sigma (1-mu)/mu): [B]."""
        cfg = self.config
        r_a = torch.full_like(alpha, cfg.sigma)
        r_b = torch.full_like(alpha, cfg.sigma * (1 - cfg.mu) / cfg.mu)
        kl = beta_kl(alpha, beta, r_a, r_b)
        w = free.to(kl.dtype)
        return (kl * w).sum(1) / w.sum(1).clamp(min=1)

    # -- public API -----------------------------------------------------------------------------
    def forward(self, seq: torch.Tensor, signals: torch.Tensor, features: torch.Tensor,
                blacklist: torch.Tensor | None = None) -> Seq2ExpOutput:
        """seq uint8/long [B, L]; signals float [B, L, S]; features float [B, F]; blacklist bool [B, L]
        or None -> Seq2ExpOutput (see its docstring)."""
        self._check(seq, signals, features, blacklist)
        cfg = self.config
        b = seq.shape[0]
        e_seq = self.stem.embed_seq(seq)  # [B, n, d]
        pooled = pool_bins(signals.float(), cfg.resolution) if self.uses_signals else signals.new_zeros(b, cfg.n_bins, 0)
        e_sig = self.stem.embed_signals(pooled) if self.uses_signals else None
        x = e_seq if e_sig is None else e_seq + e_sig
        black = self._bin_blacklist(blacklist, b, seq.device)
        promoter = self.promoter.expand(b, -1)
        alpha = beta = None
        if self.variant in MASKED_VARIANTS:
            alpha, beta = self._beta_params(e_seq, e_sig, pooled)
            mask = self._sample_mask(alpha, beta)
            # Overrides: blacklist off, then promoter on (torch.where keeps the free bins' gradient).
            mask = torch.where(black, torch.zeros_like(mask), mask)
            mask = torch.where(promoter, torch.ones_like(mask), mask)
            kl = self._kl(alpha, beta, ~black & ~promoter)
        else:
            mask = torch.where(black, torch.zeros_like(x[..., 0]), torch.ones_like(x[..., 0]))
            kl = torch.zeros(b, device=x.device, dtype=x.dtype)
        if self.predictor is None:
            motifs = self.stem.motif_features(seq)
            gate_in = F.gelu(e_seq) if motifs is None else torch.cat([F.gelu(e_seq), motifs.to(e_seq.dtype)], -1)
            output = self._factorized(gate_in, pooled, features, mask, kl, alpha, beta)
        else:
            output = self._predictor_readout(x, pooled, features, mask, kl, alpha, beta, e_seq)
        stem = self.stem.seq_embed
        if self.training and cfg.kmer_l1 > 0 and isinstance(stem, KmerStem):
            output.penalty = cfg.kmer_l1 * stem.l1()
        return output

    def _predictor_readout(self, x: torch.Tensor, pooled: torch.Tensor, features: torch.Tensor, mask: torch.Tensor,
                           kl: torch.Tensor, alpha: torch.Tensor | None, beta: torch.Tensor | None,
                           e_seq: torch.Tensor) -> Seq2ExpOutput:
        """The predictor stack over the masked input, read at the promoter (and, additive, per bin)."""
        cfg = self.config
        b = x.shape[0]
        # The mask scales what the predictor reads at each bin after its first norm (scaling
        # x itself would be undone by that RMSNorm; see BiMambaLayer).
        if self.variant in MASKED_VARIANTS:
            h = self.predictor(x, input_scale=mask)  # [B, n, d]
        else:
            mask = torch.ones_like(mask)
            h = self.predictor(x)  # [B, n, d]
        p0, p1 = cfg.promoter_bins()
        pooled_h = h[:, p0:p1].mean(1)  # mean over the central promoter bins: [B, d]
        parts = [pooled_h, features.to(pooled_h.dtype)]
        contribution = None
        if self.bin_head is not None:
            # Expression as a sum over kept bins (ABC-like): the mask weighs each bin's contribution
            # directly, so the prediction loss reaches the generator at every bin, not only through
            # what the Mamba stack carries to the promoter.
            distance = self.tss_distance.to(h.dtype).expand(b, -1)[..., None]  # [B, n, 1]
            bin_in = [h, distance, pooled.to(h.dtype)] + ([e_seq.to(h.dtype)] if cfg.bin_head_stem else [])
            per_bin = self.bin_head(torch.cat(bin_in, -1))[..., 0]  # [B, n]
            contribution = mask * F.softplus(per_bin)
            parts.append(torch.log(contribution.sum(1, keepdim=True) + 1e-4))
        z = torch.cat(parts, dim=1)
        return Seq2ExpOutput(self.head(z)[:, 0], kl, mask, alpha, beta, contribution)

    def _factorized(self, gate_in: torch.Tensor, pooled: torch.Tensor, features: torch.Tensor, mask: torch.Tensor,
                    kl: torch.Tensor, alpha: torch.Tensor | None, beta: torch.Tensor | None) -> Seq2ExpOutput:
        """Factorized readout: contribution_b = m_b a_b g_b [B, n]; prediction = head([log sum_b
        contribution_b, features]). gate_in [B, n, d (+ motif channels)] is sequence only. The
        promoter bins are kept (m = 1) and gated like any other."""
        e_seq = gate_in
        b = e_seq.shape[0]
        gate = F.softplus(self.gate_head(gate_in))[..., 0]  # [B, n], sequence only
        distance = self.tss_distance.to(e_seq.dtype).expand(b, -1)[..., None]  # [B, n, 1]
        activity_in = torch.cat([pooled.to(e_seq.dtype), distance], -1) if self.uses_signals else distance
        activity = F.softplus(self.activity_head(activity_in))[..., 0]  # [B, n], signals and distance only
        contribution = mask * activity * gate
        z = torch.cat([torch.log(contribution.sum(1, keepdim=True) + 1e-3), features.to(e_seq.dtype)], dim=1)
        # Only the order of gates is identified (the head absorbs a common level), and the L1 pulls
        # every k-mer without evidence to the same level: the gate of a sequence with no usable
        # k-mer. Elements are ranked by what their sequence adds above it.
        evidence = mask * activity * F.relu(gate - self._null_gate().to(gate.dtype))
        return Seq2ExpOutput(self.head(z)[:, 0], kl, mask, alpha, beta, contribution, evidence=evidence)

    def _null_gate(self) -> torch.Tensor:
        """The gate of a bin of N (no k-mer, no motif evidence) inside a run of N: a scalar."""
        r = self.config.resolution
        n_bins = 2 * self.config.stem_neighbors + 1
        seq = torch.full((1, r * n_bins), 4, dtype=torch.uint8, device=self.promoter.device)
        e_seq = self.stem.embed_seq(seq)
        motifs = self.stem.motif_features(seq)
        gate_in = F.gelu(e_seq) if motifs is None else torch.cat([F.gelu(e_seq), motifs.to(e_seq.dtype)], -1)
        return F.softplus(self.gate_head(gate_in))[0, n_bins // 2, 0]

    @torch.no_grad()
    def mask_scores(self, seq: torch.Tensor, signals: torch.Tensor, blacklist: torch.Tensor | None = None
                    ) -> torch.Tensor:
        """Evaluation-mode mean alpha / (alpha + beta) per bin [B, n]: 0 on blacklisted bins, no promoter
        override (call-elements reports what the model learned there). Ones (0 on blacklist) for
        nomask/seqonly. Does not change the module's train/eval mode."""
        cfg = self.config
        b = seq.shape[0]
        self._check(seq, signals, signals.new_zeros(b, cfg.n_features), blacklist)
        black = self._bin_blacklist(blacklist, b, seq.device)
        if self.variant not in MASKED_VARIANTS:
            scores = torch.ones(b, cfg.n_bins, device=seq.device)
        else:
            e_seq = self.stem.embed_seq(seq)
            pooled = pool_bins(signals.float(), cfg.resolution)
            alpha, beta = self._beta_params(e_seq, self.stem.embed_signals(pooled), pooled)
            scores = alpha / (alpha + beta)
        return scores.masked_fill(black, 0.0)

    @torch.no_grad()
    def contribution_scores(self, seq: torch.Tensor, signals: torch.Tensor, features: torch.Tensor,
                            blacklist: torch.Tensor | None = None, totals: torch.Tensor | None = None,
                            normalize: bool = True) -> torch.Tensor:
        """Evaluation-mode share of each bin in the gene's predicted regulatory input [B, n]:
        m_b c_b / sum_b' m_b' c_b' (additive readout; ABC's score is the same kind of share), or,
        factorized readout, each bin's share of the sequence evidence (Seq2ExpOutput.evidence).
        0 on blacklisted bins; sums to 1 per gene. ``totals`` [B] replaces each gene's own sum as
        the denominator (the sequence null divides a shuffled genome's evidence by the real
        genome's, so that lost evidence shows); ``normalize=False`` returns the evidence itself.
        Does not change the module's train/eval mode."""
        if self.bin_head is None and self.gate_head is None:
            raise InputError(f"contribution scores need a model trained with readout 'additive' or 'factorized' "
                             f"(this one has {self.config.readout!r}); use --score mask")
        was_training = self.training
        self.eval()
        try:
            output = self(seq, signals, features, blacklist)
        finally:
            self.train(was_training)
        contribution = output.contribution if output.evidence is None else output.evidence
        if not normalize:
            return contribution
        denominator = contribution.sum(1, keepdim=True) if totals is None else totals[:, None].to(contribution.dtype)
        return contribution / denominator.clamp(min=1e-12)
