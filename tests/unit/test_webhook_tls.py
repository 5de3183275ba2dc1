"""https callbacks: the sender connects to the address the policy checked, yet TLS verifies the
certificate against the URL's host name (SNI and hostname check), so pinning the address
weakens nothing. A test CA and certificates are made here with `cryptography`."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from docsum.adapters.http_webhook import Urllib3WebhookSender
from docsum.domain.errors import WebhookSendFailed
from docsum.push.webhooks import new_webhook_secret, signature_headers

from tests.webhook_receiver import running_receiver

SECRET = new_webhook_secret()


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    server_context: ssl.SSLContext


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(directory: Path, server_name: str) -> Pki:
    """A CA, and a certificate for `server_name` that it signed."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("docsum test CA"))
        .issuer_name(_name("docsum test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(server_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return Pki(ca_file, server)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path, "hooks.docsum.test")


def post(sender: Urllib3WebhookSender, url: str) -> int:
    body = '{"type":"document.summarized"}'
    headers = signature_headers("msg_tls", datetime.now(UTC), body, [SECRET])
    return sender.post(url, ("127.0.0.1",), body.encode(), headers).status


def port_of(url: str) -> str:
    return url.split(":")[2].split("/")[0]


def test_https_to_the_pinned_address_verifies_the_urls_host_name(pki: Pki) -> None:
    trusting = Urllib3WebhookSender(2.0, 1024, ssl.create_default_context(cafile=pki.ca_file))
    with running_receiver(SECRET, [204], tls=pki.server_context) as receiver:
        url = f"https://hooks.docsum.test:{port_of(receiver.url)}/hooks/docsum"
        assert post(trusting, url) == 204
    assert receiver.accepted_ids() == ["msg_tls"]
    assert receiver.attempts[0]["host"] == f"hooks.docsum.test:{port_of(receiver.url)}"


def test_a_certificate_for_another_name_is_refused(pki: Pki) -> None:
    trusting = Urllib3WebhookSender(2.0, 1024, ssl.create_default_context(cafile=pki.ca_file))
    with running_receiver(SECRET, tls=pki.server_context) as receiver:
        url = f"https://elsewhere.docsum.test:{port_of(receiver.url)}/hooks/docsum"
        with pytest.raises(WebhookSendFailed, match=r"(?i)hostname|match"):
            post(trusting, url)
    assert receiver.accepted == []


def test_the_default_trust_is_the_system_store(pki: Pki) -> None:
    """Lambda's sender trusts public CAs only: a private CA's certificate is refused."""
    with running_receiver(SECRET, tls=pki.server_context) as receiver:
        url = f"https://hooks.docsum.test:{port_of(receiver.url)}/hooks/docsum"
        with pytest.raises(WebhookSendFailed, match=r"(?i)certificate verify failed"):
            post(Urllib3WebhookSender(2.0, 1024), url)
    assert receiver.accepted == []
