"""The simulator: a synthetic genome whose causal regulatory elements are known.

``pipeline`` runs the generative model and writes the files (``simulate``); ``params`` holds
every parameter and the named scales, ``grammar`` the motif grammar and databases, ``layout``
positions and candidate classes, ``genome`` the sequence, ``tracks`` signals, reads and Hi-C,
``files`` file names and writers, ``chrom`` the per-chromosome record (docs/simulator.md).
"""

from seq2exp_cli.simulate.chrom import ChromSim
from seq2exp_cli.simulate.params import SCALES, SimParams, params_for_scale
from seq2exp_cli.simulate.pipeline import expression_from_truth, grammar_for, simulate, simulate_genome

__all__ = ["SCALES", "ChromSim", "SimParams", "expression_from_truth", "grammar_for", "params_for_scale",
           "simulate", "simulate_genome"]
