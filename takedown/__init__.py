"""The takedown pipeline's core: settings, the case store, URL intake, the case lifecycle and the CLI."""

__version__ = "0.1.0"
