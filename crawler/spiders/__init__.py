"""Spiders of the revisit crawler: :mod:`crawler.spiders.revisit`, which revisits reported URLs."""
