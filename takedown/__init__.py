"""The takedown pipeline's core: settings, the store, URL intake, the case lifecycle and statistics."""

__version__ = "0.1.0"
