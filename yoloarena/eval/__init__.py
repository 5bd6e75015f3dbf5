"""Evaluation: COCO metrics (faster-coco-eval), curves, confusion matrix, plots."""
