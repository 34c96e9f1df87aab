"""Spiders of the revisit crawler (the revisit spider arrives with issue #3)."""
