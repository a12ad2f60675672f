"""cripto_platform: a Kedro data and model platform."""

__version__ = "0.1.0"
