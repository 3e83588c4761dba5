"""Export stage: one file per format behind one small interface."""
