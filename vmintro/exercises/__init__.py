"""Post-mortem exercises with verifiable answers (``images/exercises/``)."""
