"""Models, training runs and predictions arrive with the active-learning issue (issue 6)."""
