"""The callback URL policy (SSRF): what is refused, and why; and the submission's probe, which
refuses a receiver that redirects (the real probe against a loopback receiver is at the end)."""

from __future__ import annotations

import time

import pytest
from docsum.adapters.http_webhook import Urllib3WebhookSender
from docsum.domain.errors import CallbackUrlRefused, WebhookSendFailed
from docsum.platform.settings import Settings
from docsum.ports.push import WebhookResponse
from docsum.push.callbacks import CallbackPolicy, check_at_submission
from docsum.wiring import callback_probe

from tests.fakes import ScriptedCallbackProbe
from tests.webhook_receiver import Step, running_receiver

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
        ("https://[::127.0.0.1]/", "not a public address"),  # IPv4-compatible
        ("https://[::a9fe:a9fe]/", "not a public address"),
        ("https://[64:ff9b:1::808:808]/", "not a public address"),  # local-use NAT64
        ("https://192.0.0.192/", "not a public address"),
        ("https://192.0.0.9/", "not a public address"),
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


# ------------------------------------------------------------------ the probe at submission

HOOK = "https://hooks.example.com/docsum"


def probed(url: str, *answers: WebhookResponse | Exception) -> ScriptedCallbackProbe:
    probe = ScriptedCallbackProbe(list(answers))
    check_at_submission(cloud(), probe, url)
    return probe


def test_the_probe_goes_to_exactly_the_checked_addresses() -> None:
    probe = probed(HOOK, WebhookResponse(200))
    assert probe.probes == [(HOOK, tuple(DNS["hooks.example.com"]))]


def test_a_refused_url_is_never_probed() -> None:
    probe = ScriptedCallbackProbe()
    with pytest.raises(CallbackUrlRefused, match=r"10\.0\.0\.5"):
        check_at_submission(cloud(), probe, "https://rebind.example.com/hook")
    assert probe.probes == []


@pytest.mark.parametrize(
    "answer",
    [
        WebhookResponse(200),
        WebhookResponse(204),
        WebhookResponse(404),
        WebhookResponse(405),  # a POST-only receiver
        WebhookResponse(500),
        WebhookResponse(503),
        WebhookResponse(304, location="https://169.254.169.254/"),  # not a redirect
        WebhookSendFailed("127.0.0.1: timed out"),  # down or hanging: it may come up later
    ],
)
def test_a_receiver_that_answers_anything_but_a_redirect_is_accepted(
    answer: WebhookResponse | Exception,
) -> None:
    target = check_at_submission(cloud(), ScriptedCallbackProbe([answer]), HOOK)
    assert target.url == HOOK


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", r"redirects to http://169\.254\.169\.254/"),
        ("https://metadata.example.com/", r"resolves to 169\.254\.169\.254, not a public"),
        ("https://rebind.example.com/", r"10\.0\.0\.5, not a public address"),
        ("https://[fd00::1]/", "not a public address"),
    ],
)
def test_a_redirect_to_a_refused_address_is_refused_naming_it(location: str, reason: str) -> None:
    with pytest.raises(CallbackUrlRefused, match=reason) as refused:
        probed(HOOK, WebhookResponse(302, location=location))
    assert "which is refused" in str(refused.value)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_any_other_redirect_is_refused_asking_for_the_final_url(status: int) -> None:
    with pytest.raises(CallbackUrlRefused, match="never redirected: give the final URL") as refused:
        probed(HOOK, WebhookResponse(status, location="https://hooks.example.com/v2/docsum"))
    assert f"(HTTP {status}) to https://hooks.example.com/v2/docsum" in str(refused.value)


def test_a_relative_redirect_is_shown_resolved_against_the_url() -> None:
    with pytest.raises(CallbackUrlRefused, match=r"to https://hooks\.example\.com/v2;"):
        probed(HOOK, WebhookResponse(308, location="/v2"))


def test_a_redirect_without_location_is_refused() -> None:
    with pytest.raises(CallbackUrlRefused, match=r"redirects \(HTTP 302\)"):
        probed(HOOK, WebhookResponse(302))


def test_a_long_location_is_shown_shortened() -> None:
    location = "https://hooks.example.com/" + "a" * 5000
    with pytest.raises(CallbackUrlRefused) as refused:
        probed(HOOK, WebhookResponse(302, location=location))
    assert len(str(refused.value)) < 400


def test_without_a_probe_only_the_policy_decides() -> None:
    assert check_at_submission(cloud(), None, HOOK).url == HOOK
    with pytest.raises(CallbackUrlRefused):
        check_at_submission(cloud(), None, "https://metadata.example.com/")


# The real probe (the webhook sender's HEAD) against a loopback receiver answering each way.
# Loopback http is allowed, as under `make up`; hooks.example.com still "resolves" publicly.
PROBE_TIMEOUT = 1.0


def submitted_with(step: Step) -> tuple[str | None, float, list[dict[str, str]]]:
    """(the refusal, or None when accepted; seconds the check took; the probes received)."""
    with running_receiver("whsec_dGVzdA==", probe_script=[step]) as receiver:
        started = time.monotonic()
        try:
            check_at_submission(local(), Urllib3WebhookSender(PROBE_TIMEOUT, 0), receiver.url)
            refusal = None
        except CallbackUrlRefused as exc:
            refusal = str(exc)
        elapsed = time.monotonic() - started
    assert receiver.attempts == []  # a probe is never a delivery
    return refusal, elapsed, receiver.probes


def test_real_probe_refuses_a_redirect_to_the_metadata_service() -> None:
    refusal, _, probes = submitted_with(("redirect", "http://169.254.169.254/"))
    assert refusal is not None
    assert "redirects to http://169.254.169.254/, which is refused" in refusal
    assert "not a public address" in refusal
    assert [p["user-agent"] for p in probes] == ["docsum-webhooks"]


def test_real_probe_refuses_a_redirect_to_a_public_name() -> None:
    refusal, _, _ = submitted_with(("redirect", "https://hooks.example.com/final"))
    assert refusal == (
        "redirects (HTTP 302) to https://hooks.example.com/final; "
        "webhooks are never redirected: give the final URL"
    )


@pytest.mark.parametrize("status", [200, 404, 405, 500])
def test_real_probe_accepts_a_receiver_that_does_not_redirect(status: int) -> None:
    refusal, _, probes = submitted_with(status)
    assert (refusal, len(probes)) == (None, 1)


def test_real_probe_accepts_a_hanging_receiver_after_its_timeout() -> None:
    refusal, elapsed, probes = submitted_with(("hang", 5))
    assert (refusal, len(probes)) == (None, 1)
    assert elapsed < PROBE_TIMEOUT + 1.5


def test_real_probe_accepts_a_receiver_that_is_down() -> None:
    with running_receiver("whsec_dGVzdA==") as receiver:
        url = receiver.url  # closed below: nothing listens on its port any more
    check_at_submission(local(), Urllib3WebhookSender(PROBE_TIMEOUT, 0), url)


def test_the_wired_probe_is_off_at_zero_and_otherwise_the_real_one() -> None:
    """`CALLBACK_PROBE_TIMEOUT_SECONDS=0` turns the probe off; else the wiring's probe (made
    on first use) is the real one."""
    off = Settings(summarize_queue_url="queue", api_token=None, callback_probe_timeout_seconds=0)
    assert callback_probe(off) is None
    on = Settings(summarize_queue_url="queue", api_token=None, callback_probe_timeout_seconds=1)
    probe = callback_probe(on)
    assert probe is not None
    redirect: Step = ("redirect", "http://169.254.169.254/")
    with running_receiver("whsec_dGVzdA==", probe_script=[redirect]) as receiver:
        with pytest.raises(CallbackUrlRefused, match="which is refused"):
            check_at_submission(local(), probe, receiver.url)
        assert len(receiver.probes) == 1
