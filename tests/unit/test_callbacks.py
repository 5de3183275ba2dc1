"""The callback URL policy (SSRF): what is refused, and why."""

from __future__ import annotations

import pytest
from docsum.callbacks import CallbackPolicy
from docsum.errors import CallbackUrlRefused

# A resolver standing in for DNS: names the tests use → the addresses they "resolve" to.
DNS = {
    "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "metadata.example.com": ["169.254.169.254"],
    "rebind.example.com": ["93.184.216.34", "10.0.0.5"],
    "v6-private.example.com": ["fd00::1"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
}


def fake_dns(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise CallbackUrlRefused(f"host {host!r} does not resolve")
    return DNS[host]


def cloud() -> CallbackPolicy:
    return CallbackPolicy(allow_loopback_http=False, resolver=fake_dns)


def local() -> CallbackPolicy:
    return CallbackPolicy(allow_loopback_http=True, resolver=fake_dns)


def test_https_to_a_public_name_passes_with_every_address() -> None:
    target = cloud().check("https://hooks.example.com/docsum?x=1")
    assert target.host == "hooks.example.com"
    assert target.port == 443
    assert target.addresses == tuple(DNS["hooks.example.com"])


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/", "scheme must be https"),
        ("ftp://hooks.example.com/", "scheme must be https"),
        ("https://10.1.2.3/", "not a public address"),
        ("https://192.168.0.10/", "not a public address"),
        ("https://172.16.0.1/", "not a public address"),
        ("https://127.0.0.1/", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "not a public address"),
        ("https://metadata.example.com/", "169.254.169.254"),
        ("https://100.64.0.1/", "not a public address"),
        ("https://0.0.0.0/", "not a public address"),
        ("https://[::1]/", "not a public address"),
        ("https://[fe80::1]/", "not a public address"),
        ("https://[fd00:ec2::254]/", "not a public address"),
        ("https://[::ffff:169.254.169.254]/", "not a public address"),
        ("https://[64:ff9b::a9fe:a9fe]/", "not a public address"),
        ("https://[2002:a9fe:a9fe::1]/", "not a public address"),
        ("https://[ff02::1]/", "not a public address"),
        ("https://224.0.0.1/", "not a public address"),
        ("https://rebind.example.com/", "10.0.0.5"),
        ("https://v6-private.example.com/", "fd00::1"),
        ("https://mapped.example.com/", "not a public address"),
        ("https://localhost/", "not a public address"),
        ("https://nowhere.invalid/", "does not resolve"),
        ("https://hooks.example.com@10.0.0.1/", "user-info"),
        ("https://user:pw@hooks.example.com/", "user-info"),
        ("https:///path-only", "no host"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com:0/", "port 0"),
        ("https://[fe80::1%25eth0]/", "zone identifiers"),
        ("not a url", "scheme must be https"),
        ("https://hooks.example.com/" + "a" * 2100, "longer than"),
    ],
)
def test_cloud_mode_refuses(url: str, why: str) -> None:
    with pytest.raises(CallbackUrlRefused, match=why):
        cloud().check(url)


def test_numeric_host_forms_are_checked_by_what_they_resolve_to() -> None:
    """`2130706433` and `0x7f.1` are 127.0.0.1 to the system resolver."""
    policy = CallbackPolicy(allow_loopback_http=False)  # the real resolver
    for url in ("https://2130706433/", "https://0x7f.1/", "https://127.1/"):
        with pytest.raises(CallbackUrlRefused, match=r"not a public address|does not resolve"):
            policy.check(url)


def test_local_mode_allows_http_and_https_to_loopback_only() -> None:
    assert local().check("http://127.0.0.1:8080/hook").addresses == ("127.0.0.1",)
    assert local().check("http://[::1]:8080/hook").addresses == ("::1",)
    assert local().check("http://localhost:9000/").addresses == ("127.0.0.1", "::1")
    assert local().check("https://hooks.example.com/").port == 443
    with pytest.raises(CallbackUrlRefused, match="only allowed to loopback"):
        local().check("http://hooks.example.com/")
    with pytest.raises(CallbackUrlRefused, match="not a public address"):
        local().check("http://10.0.0.1/")
    with pytest.raises(CallbackUrlRefused, match="not a public address"):
        local().check("http://169.254.169.254/")
    with pytest.raises(CallbackUrlRefused, match="zone identifiers"):
        local().check("http://[::1%25lo]:8080/")
