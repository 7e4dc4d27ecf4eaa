"""seq2exp: predict gene expression from sequence and chromatin, and call the elements that drive it."""

__version__ = "0.1.0"
