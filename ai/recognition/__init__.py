"""Tray recognition for BakeSight: segmentation, few-shot gallery matching, fusion, decisions."""

from .pipeline import Calibration, Pipeline
from .service import PipelineRecognizer, create_recognizer

__all__ = ["Calibration", "Pipeline", "PipelineRecognizer", "create_recognizer"]
