"""The triggers' asyncio network backend over real loopback sockets: plain HTTP, TLS, failures.

Failures must surface as the usual ``httpx`` exceptions, which the client's retry rules and the
trigger's failure counting are written against.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from airflow_provider_batch.hooks._asyncio_net import SUPPORTED, polling_transport

pytestmark = pytest.mark.skipif(not SUPPORTED, reason="the backend is used on Python 3.11+ only")

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _client(verify: ssl.SSLContext | bool = False, expiry: float = 30.0) -> httpx.AsyncClient:
    limits = httpx.Limits(keepalive_expiry=expiry)
    return httpx.AsyncClient(transport=polling_transport(verify, limits))


async def _answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.readuntil(b"\r\n\r\n"):
        writer.write(OK)
        await writer.drain()


async def _answer_once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(OK)
    await writer.drain()
    writer.close()


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def _serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    connections: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
        yield str(len(connections))
    finally:
        server.close()


async def test_plain_http_reuses_one_connection() -> None:
    served = _serve(_answer_each)
    url = await anext(served)
    async with _client() as client:
        answers = [(await client.get(url)).json() for _ in range(3)]
    assert answers == [{"ok": True}] * 3
    assert await anext(served) == "1"
    await served.aclose()


async def test_a_connection_the_server_closed_is_replaced() -> None:
    served = _serve(_answer_once_then_close)
    url = await anext(served)
    async with _client() as client:
        first = await client.get(url)
        await asyncio.sleep(0.1)  # the server's FIN arrives while the connection is idle
        second = await client.get(url)
    assert (first.status_code, second.status_code) == (200, 200)
    assert await anext(served) == "2"
    await served.aclose()


async def test_refused_connection_is_an_httpx_connect_error() -> None:
    served = _serve(_answer_each)
    url = await anext(served)
    await served.aclose()  # nothing listens there any more
    async with _client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url)


async def test_silent_server_is_an_httpx_read_timeout() -> None:
    served = _serve(_never_answer)
    url = await anext(served)
    async with _client() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url, timeout=httpx.Timeout(5.0, read=0.2))
    await served.aclose()


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    return server, cert_path


async def test_tls_is_verified_against_the_given_context(tmp_path: Path) -> None:
    server_tls, cert_path = _self_signed(tmp_path)
    served = _serve(_answer_each, server_tls)
    url = await anext(served)
    async with _client(ssl.create_default_context(cafile=str(cert_path))) as client:
        response = await client.get(url)
        assert response.json() == {"ok": True}
        assert response.extensions["network_stream"].get_extra_info("ssl_object") is not None
    async with _client(ssl.create_default_context()) as untrusting:
        with pytest.raises(httpx.ConnectError):
            await untrusting.get(url)
    await served.aclose()
