"""Data stage: reading a folder-per-class data set, auditing, cleaning, splitting, statistics."""
