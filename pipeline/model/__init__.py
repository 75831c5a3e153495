"""Building Keras objects from a validated plan (imports Keras; used only when running)."""
