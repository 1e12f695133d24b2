"""Preparation steps: QC, resampling, gap filling, SSA, splits, scaling, site selection."""
