"""Data adapters and checks used by fit/evaluate/predict."""
