"""The version of cnnlib, in one place (the package and its environment report read it)."""

__version__ = "0.1.0"
