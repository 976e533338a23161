"""Reader training, calibration fitting and the injection probes: development code, not installed with the
product (pyproject.toml lists the packages). Run it as `python -m training ...` from the checkout."""
