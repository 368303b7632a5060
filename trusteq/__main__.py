"""`python -m trusteq` runs the whole study (same as `trusteq-study`)."""

from trusteq.cli import study

study()
