"""Both emitters against an ``https://`` sink (a broker ingress with Knative's eventing TLS on).

The sink here is a real TLS server with a certificate made for 127.0.0.1; the emitters trust it
the way a pod trusts a mounted CA bundle, through ``SSL_CERT_FILE`` and the default context. The
blocking emitter must keep its deadline over TLS too (its socket class is made on the first https
sink, so a function that never posts over https never loads ``ssl``), and a certificate nobody
vouches for is a 503, never an event sent in the clear.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from codex_pipeline.effects.async_emit import AsyncEmitter
from codex_pipeline.effects.emit import Emitter
from codex_pipeline.errors import Unavailable
from tests.fakes.hostile import HostileSink
from tests.fakes.httpserver import RecordingSink
from tests.sink_events import DATA
from tests.sink_events import opened_event as event


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "codex-pipeline test sink")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "sink.pem", folder / "sink.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The sinks' side of TLS: the certificate of :func:`certificate`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class TlsSink(RecordingSink):
    """The recording sink behind TLS; ``connections`` counts the TCP connections it accepted."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        server = self._server
        server.socket = server_context(cert, key).wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.connections = 0
        accept = server.get_request

        def counted() -> tuple[socket.socket, object]:
            connection = accept()
            self.connections += 1
            return connection

        server.get_request = counted  # type: ignore[method-assign]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"


class TrickleOverTls(HostileSink):
    """tests/fakes/hostile.py's trickling sink behind TLS."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__("trickle", 0.2)
        self._listener = server_context(cert, key).wrap_socket(self._listener, server_side=True)

    @property
    def url(self) -> str:
        return super().url.replace("http://", "https://")


@pytest.fixture
def pem(tmp_path: Path) -> tuple[Path, Path]:
    return certificate(tmp_path)


def test_the_blocking_emitter_posts_over_tls_on_one_kept_connection(
    pem: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pem[0]))
    sent = [event(), event()]
    with TlsSink(*pem) as sink:
        emitter = Emitter(sink.url, attempts=1)
        for item in sent:
            emitter.emit(item)
        emitter.close()
        recorded = sink.wait_for(2)
    assert [r.headers["ce-id"] for r in recorded] == [item.id for item in sent]
    assert [r.body for r in recorded] == [DATA] * 2
    assert sink.connections == 1


def test_the_event_loop_emitter_posts_over_tls_on_one_kept_connection(
    pem: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pem[0]))
    sent = [event(), event()]

    async def emit_both(url: str) -> None:
        emitter = AsyncEmitter(url, attempts=1)
        for item in sent:
            await emitter.emit(item)
        await emitter.aclose()

    with TlsSink(*pem) as sink:
        asyncio.run(emit_both(sink.url))
        recorded = sink.wait_for(2)
    assert [r.headers["ce-id"] for r in recorded] == [item.id for item in sent]
    assert sink.connections == 1


def test_a_certificate_nobody_vouches_for_is_a_503_and_nothing_is_sent(pem: tuple[Path, Path]) -> None:
    # no SSL_CERT_FILE: the system's CAs do not know the sink's certificate
    with TlsSink(*pem) as sink:
        with pytest.raises(Unavailable, match="ConnectionError"):
            Emitter(sink.url, attempts=1).emit(event())

        async def emit() -> None:
            await AsyncEmitter(sink.url, attempts=1).emit(event())

        with pytest.raises(Unavailable, match="ConnectionError"):
            asyncio.run(emit())
        time.sleep(0.1)
    assert sink.requests == []


def test_the_blocking_emitter_keeps_its_deadline_over_tls(
    pem: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a byte of the answer every 0.2 s: no wait on the socket is ever long, only their sum is
    monkeypatch.setenv("SSL_CERT_FILE", str(pem[0]))
    with TrickleOverTls(*pem) as sink:
        emitter = Emitter(sink.url, timeout=2.0, attempts=3, backoff=0.1, deadline=1.5)
        outcome: list[BaseException] = []

        def emit() -> None:
            try:
                emitter.emit(event())
            except BaseException as error:
                outcome.append(error)

        started = time.monotonic()
        # in a daemon thread: a regression would listen to the trickle for ever, the test fails instead
        worker = threading.Thread(target=emit, daemon=True)
        worker.start()
        worker.join(10)
        elapsed = time.monotonic() - started
        assert sink.requests >= 1  # the request did reach the sink, over TLS
    assert not worker.is_alive(), "the emit outlived its deadline"
    assert len(outcome) == 1 and isinstance(outcome[0], Unavailable), outcome
    assert "sink did not accept" in str(outcome[0])
    assert 1.3 < elapsed < 2.5, elapsed
