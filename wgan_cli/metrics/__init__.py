"""Metrics computed on samples."""
