"""Canonicalisation: the Safe Browsing v4 published examples, our documented choices, and properties."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from takedown.canonical import CanonicalizationError, canonical_parts, canonicalize

# The examples published with the Safe Browsing v4 procedure ("URLs and Hashing"), all of them.
PUBLISHED_EXAMPLES = [
    ("http://host/%25%32%35", "http://host/%25"),
    ("http://host/%25%32%35%25%32%35", "http://host/%25%25"),
    ("http://host/%2525252525252525", "http://host/%25"),
    ("http://host/asdf%25%32%35asd", "http://host/asdf%25asd"),
    ("http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"),
    ("http://www.google.com/", "http://www.google.com/"),
    (
        "http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/",
        "http://168.188.99.26/.secure/www.ebay.com/",
    ),
    (
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
        "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/",
    ),
    (
        "http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B",
        "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+",
    ),
    ("http://3279880203/blah", "http://195.127.0.11/blah"),
    ("http://www.google.com/blah/..", "http://www.google.com/"),
    ("www.google.com/", "http://www.google.com/"),
    ("www.google.com", "http://www.google.com/"),
    ("http://www.evil.com/blah#frag", "http://www.evil.com/blah"),
    ("http://www.GOOgle.com/", "http://www.google.com/"),
    ("http://www.google.com.../", "http://www.google.com/"),
    ("http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"),
    ("http://www.google.com/q?", "http://www.google.com/q?"),
    ("http://www.google.com/q?r?", "http://www.google.com/q?r?"),
    ("http://www.google.com/q?r?s", "http://www.google.com/q?r?s"),
    ("http://evil.com/foo#bar#baz", "http://evil.com/foo"),
    ("http://evil.com/foo;", "http://evil.com/foo;"),
    ("http://evil.com/foo?bar;", "http://evil.com/foo?bar;"),
    (b"http://\x01\x80.com/", "http://%01%80.com/"),
    ("http://notrailingslash.com", "http://notrailingslash.com/"),
    ("http://www.gotaport.com:1234/", "http://www.gotaport.com/"),
    ("  http://www.google.com/  ", "http://www.google.com/"),
    ("http:// leadingspace.com/", "http://%20leadingspace.com/"),
    ("http://%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("%20leadingspace.com/", "http://%20leadingspace.com/"),
    ("https://www.securesite.com/", "https://www.securesite.com/"),
    ("http://host.com/ab%23cd", "http://host.com/ab%23cd"),
    ("http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"),
]


@pytest.mark.parametrize(("given_url", "expected"), PUBLISHED_EXAMPLES)
def test_published_safe_browsing_examples(given_url: str | bytes, expected: str) -> None:
    assert canonicalize(given_url) == expected


@pytest.mark.parametrize(
    ("given_url", "expected"),
    [
        # IPv4 in octal, hex, and with fewer than four components.
        ("http://0300.0250.0.01/x", "http://192.168.0.1/x"),
        ("http://0xC0.0xA8.0x00.0x01/", "http://192.168.0.1/"),
        ("http://0xC0A80001/", "http://192.168.0.1/"),
        ("http://192.168.1/", "http://192.168.0.1/"),
        ("http://192.11010049/", "http://192.168.0.1/"),
        # Out of range components make a name, not a wrapped-around address.
        ("http://1.300.1.1/", "http://1.300.1.1/"),
        ("http://08.1.1.1/", "http://08.1.1.1/"),
        # Dots, case, scheme.
        ("HTTPS://..Example..COM../a", "https://example.com/a"),
        # Paths: dot segments, repeated slashes, trailing slash kept when written.
        ("http://h/a/./b/../c/", "http://h/a/c/"),
        ("http://h/../../x", "http://h/x"),
        ("http://h///a//b", "http://h/a/b"),
        # Query keeps its slashes and dots.
        ("http://h/a?x=/../y//z", "http://h/a?x=/../y//z"),
        # Credentials never reach the canonical form.
        ("http://user:secret@h.example/x", "http://h.example/x"),
        # Internationalised hosts: Unicode, escaped UTF-8 and punycode are one host.
        ("http://bücher.example/x", "http://xn--bcher-kva.example/x"),
        ("http://b%C3%BCcher.example/x", "http://xn--bcher-kva.example/x"),
        ("http://XN--BCHER-KVA.example/x", "http://xn--bcher-kva.example/x"),
        # Non-ASCII in the path is escaped in uppercase hex.
        ("http://h/ü", "http://h/%C3%BC"),
        # IPv6 literals are kept and lowercased, their port removed.
        ("http://[2001:DB8::1]:8080/p", "http://[2001:db8::1]/p"),
    ],
)
def test_documented_choices(given_url: str, expected: str) -> None:
    assert canonicalize(given_url) == expected


def test_dedup_key_keeps_a_non_default_port() -> None:
    assert canonical_parts("http://Example.com:8080/a").dedup_key == "http://example.com:8080/a"
    assert canonical_parts("http://example.com:80/a").dedup_key == "http://example.com/a"
    assert canonical_parts("https://example.com:443/a").dedup_key == "https://example.com/a"
    assert canonical_parts("https://example.com:80/a").dedup_key == "https://example.com:80/a"
    assert canonical_parts("http://example.com:/a").dedup_key == "http://example.com/a"


@pytest.mark.parametrize(
    ("given_url", "fragment_of_message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("#only-a-fragment", "empty"),
        ("http:/one-slash", "expected '//'"),
        ("http://", "no host"),
        ("http://.../x", "no host"),
        ("http://[::1/x", "closing ']'"),
        ("http://h:99999/", "port 99999"),
        (b"http://\xff\xfe.example/", "not UTF-8"),
    ],
)
def test_unreadable_urls_raise_a_clear_error(given_url: str | bytes, fragment_of_message: str) -> None:
    with pytest.raises(CanonicalizationError, match=fragment_of_message):
        canonicalize(given_url)


url_like = st.one_of(
    st.text(),
    st.binary(),
    st.builds(
        lambda scheme, host, path, query: f"{scheme}{host}{path}{query}",
        st.sampled_from(["", "http://", "https://", "HTTP://", "ftp://", "http:"]),
        st.text(alphabet="abcXYZ019.-%[]:@ü\u3002", max_size=20),
        st.text(alphabet="/.%2Eab#?\t ü", max_size=20),
        st.text(alphabet="?=&/.%#ab", max_size=10),
    ),
)


@settings(max_examples=800)
@given(url_like)
@example("http://%2525252525/")
@example("http://a%40b.example/")
@example("http://a%2Fb/c")
def test_never_raises_anything_but_a_clear_error_and_is_idempotent(value: str | bytes) -> None:
    try:
        first = canonicalize(value)
    except CanonicalizationError as exc:
        assert str(exc)
        return
    assert first.isascii() and first.isprintable()
    assert canonicalize(first) == first
    assert canonical_parts(first).dedup_key == canonical_parts(first).dedup_key


@given(st.from_regex(r"\Ahttps?://[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){1,2}(/[a-zA-Z0-9_.-]{0,10}){0,4}\Z"))
def test_escaping_a_url_does_not_change_its_canonical_form(value: str) -> None:
    escaped = "".join(f"%{ord(char):02X}" if char not in ":/" else char for char in value)
    assert canonicalize(escaped) == canonicalize(value)
