"""MedFusion course library."""
