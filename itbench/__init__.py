"""itbench: measure what instruction tuning did to a model (Ghosh et al., ICML 2024)."""

__version__ = "0.1.0"
