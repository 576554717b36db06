"""Dashboard session cookies and CSRF tokens."""

from __future__ import annotations

from quorra.http.dashboard.session import SessionSigner


def test_issued_session_reads_back_until_it_expires() -> None:
    now = [1_000_000.0]
    signer = SessionSigner(b"key", max_age=60, clock=lambda: now[0])
    cookie = signer.issue()
    session = signer.read(cookie)
    assert session is not None and session.expires == 1_000_060
    now[0] += 61
    assert signer.read(cookie) is None


def test_forged_or_foreign_cookies_are_refused() -> None:
    signer = SessionSigner(b"key")
    cookie = signer.issue()
    payload, signature = cookie.split(".")
    assert signer.read(f"{payload}.{signature[:-2]}xx") is None
    assert signer.read(f"{payload}x.{signature}") is None
    assert signer.read("") is None and signer.read("a.b.c") is None and signer.read(None) is None
    assert SessionSigner(b"another key").read(cookie) is None


def test_csrf_token_is_bound_to_the_session() -> None:
    signer = SessionSigner(b"key")
    first, second = signer.read(signer.issue()), signer.read(signer.issue())
    assert first is not None and second is not None
    token = signer.csrf_token(first)
    assert signer.csrf_ok(first, token)
    assert not signer.csrf_ok(second, token)
    assert not signer.csrf_ok(first, "") and not signer.csrf_ok(first, None)


def test_key_comparison() -> None:
    signer = SessionSigner(b"s3cret")
    assert signer.key_matches("s3cret")
    assert not signer.key_matches("s3cre") and not signer.key_matches("")
    assert not signer.key_matches("\udcff")


def test_non_ascii_cookie_and_csrf_token_are_refused_not_errors() -> None:
    signer = SessionSigner(b"key")
    session = signer.read(signer.issue())
    assert session is not None
    payload, _ = signer.issue().split(".")
    for cookie in (f"{payload}.é", "é.é", "\udcff.x", f"{payload}\u2603.sig"):
        assert signer.read(cookie) is None
    for token in ("é", "\u2603" * 43, "\udcff"):
        assert not signer.csrf_ok(session, token)
