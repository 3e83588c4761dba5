"""The package version, in its own module so submodules never import it back from the package root."""
__version__ = "0.1.0"
