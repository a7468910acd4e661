"""INCIDENT_IO_ALLOWED_API_URLS against URL tricks: the URL the client requests must be the one allowed.

The allow-list compares ``urllib.parse``'s reading of a URL; the client hands the same text to httpx. Every URL
accepted here must therefore mean, to httpx, the allowed host and a request path under the allowed base.
"""

from __future__ import annotations

import httpx
import pytest

from causely_incidentio.destinations import allowed_api_urls, normalise_api_url
from causely_incidentio.settings import Settings

ALLOWED = "https://api.incident.io"

TRICKS = [
    "https://api.incident.io@evil.example",
    "https://api.incident.io:443@evil.example",
    "https://api.incident.io\\@evil.example",
    "https://evil.example\\@api.incident.io",
    "https://api.incident.io.evil.example",
    "https://api.incident.io.",
    "https://api.incident.io%40evil.example",
    "https://api%2Eincident.io",
    "https://api.incident.io\u3002evil.example",
    "https://\u0430pi.incident.io",
    "https://api.incident.io//evil.example",
    "https://api.incident.io:8443",
    "http://api.incident.io",
    "https://api.incident.io/v2",
    # whitespace and control characters inside (every caller strips the ends): urllib drops tab/CR/LF before
    # parsing, httpx refuses the URL, so a destination would be Ready and fail every call
    "https://api.inci\tdent.io",
    "https://api.incident.io:4\n43",
    "https://api.incident.io\x00",
    "https://api.incident.io\x7f",
    # an empty query or fragment: the client's paths would land in it, not under the base URL
    "https://api.incident.io/?",
    "https://api.incident.io/#",
]

SAME = ["https://api.incident.io", "HTTPS://API.INCIDENT.IO", "https://api.incident.io:443", "https://api.incident.io/",
        " https://api.incident.io\n"]


def allowed(url: str) -> bool:
    canonical, _ = normalise_api_url(url)
    return canonical is not None and canonical in allowed_api_urls(Settings(incident_io_allowed_api_urls=ALLOWED), [])


@pytest.mark.parametrize("url", TRICKS)
def test_a_trick_url_is_not_allowed(url: str) -> None:
    assert not allowed(url)


@pytest.mark.parametrize("url", SAME)
def test_spellings_of_the_allowed_url_are_allowed(url: str) -> None:
    assert allowed(url)


@pytest.mark.parametrize("url", SAME + TRICKS)
def test_whatever_is_allowed_is_what_httpx_requests(url: str) -> None:
    """The differential check: an allowed URL, as the client builds a request from it, goes where it says."""
    if not allowed(url):
        return
    request = httpx.URL(url.strip().rstrip("/") + "/v2/incidents")  # the callers strip, the client appends
    assert (request.scheme, request.host, request.port, request.path) == ("https", "api.incident.io", None,
                                                                           "/v2/incidents")


@pytest.mark.parametrize("url", ["https://api.inci\tdent.io", "https://api.incident.io/?"])
def test_the_problem_says_what_is_wrong(url: str) -> None:
    _, what = normalise_api_url(url)
    assert what in ("contains whitespace or control characters", "must not have a query or fragment")


def test_loopback_spellings_the_simulator_uses() -> None:
    for url in ["http://127.0.0.1:8090", "http://localhost:8090/", "http://[::1]:8090"]:
        assert normalise_api_url(url)[0] is not None
