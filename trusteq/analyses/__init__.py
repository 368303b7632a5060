"""Analyses: compare-stage plug-ins that need several splits or cached outputs per variant.

Out-of-distribution agreement and attribution agreement are analyses; see `base.py`.
"""
