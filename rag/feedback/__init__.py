"""Reader feedback: verdicts on answers and citations, stored append-only, exported as suite cases."""
