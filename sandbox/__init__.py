"""A self-contained local internet on loopback for the demo and the tests (issue #3 onwards)."""
