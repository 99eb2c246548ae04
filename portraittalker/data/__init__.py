"""Prepared-dataset tables (``clips.parquet``, ``frames.parquet``) shared by prepare, train and evaluate."""
