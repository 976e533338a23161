"""Checks on generated answers: the attribution and number guard (more of the verifier moves here, issue 17)."""
