"""A thin RDAP client (RFC 9082 queries, RFC 9083 responses, RFC 9224 bootstrap).

Written here rather than taken from ipwhois because ipwhois hard-codes the registries' addresses,
refuses loopback addresses (so it cannot be tested against a local registry) and looks for abuse
contacts only at the top level, where ARIN and LACNIC do not put them.
"""
