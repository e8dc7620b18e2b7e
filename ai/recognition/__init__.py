"""Tray recognition for BakeSight: segmentation, few-shot gallery matching, fusion, decisions."""

from .pipeline import Calibration, Pipeline

__all__ = ["Calibration", "Pipeline"]
