"""Recovery: the scheduled sweep that restarts documents nobody will finish."""
