"""lvs — Local Video Server."""

__version__ = "0.1.0"
