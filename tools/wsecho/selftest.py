#!/usr/bin/python3
"""Self-test of wsecho, without ringway: the integration tests trust this backend, so it is checked
on its own first, with Debian's python3-websockets (an independent implementation) and raw sockets
where the exact bytes matter.

usage: /usr/bin/python3 selftest.py PATH/TO/wsecho
"""
import asyncio
import base64
import hashlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import websockets

WSECHO = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WSECHO_BIN", "wsecho")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
passed = 0
failed = 0


def start(*args):
    proc = subprocess.Popen([WSECHO, "--listen", "127.0.0.1:0", *args], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    # "wsecho NAME listening on 127.0.0.1:PORT"
    assert " listening on 127.0.0.1:" in line, line
    return proc, int(line.rsplit(":", 1)[1])


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=10)
    assert rc == 0, f"wsecho exited {rc} on SIGTERM"


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {name}", flush=True)
    except Exception as e:  # noqa: BLE001 - a failed check is reported, the others still run
        failed += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)


def mask_frame(opcode, payload, fin=True, masked=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def upgrade_request(target="/", extra=""):
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")
    return req.encode(), key


def recv_until(sock, marker, limit=1 << 20):
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        assert len(data) < limit
    return data


def read_frame(sock, buf):
    """Reads one unmasked server frame from sock (buf holds bytes already read); returns (opcode, payload, rest)."""
    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
    need(2)
    op, ln = buf[0] & 0x0F, buf[1] & 0x7F
    assert buf[1] & 0x80 == 0, "server frame must not be masked"
    pos = 2
    if ln == 126:
        need(4)
        ln = struct.unpack("!H", buf[2:4])[0]
        pos = 4
    elif ln == 127:
        need(10)
        ln = struct.unpack("!Q", buf[2:10])[0]
        pos = 10
    need(pos + ln)
    return op, buf[pos:pos + ln], buf[pos + ln:]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def main():
    proc, port = start("--id", "echo-t", "--hello")
    uri = f"ws://127.0.0.1:{port}"

    def handshake_headers():
        async def go():
            async with websockets.connect(uri + "/chat?room=a%2Fb", subprotocols=["chat.v2", "chat.v1"],
                                          extra_headers={"X-Forwarded-For": "10.1.2.3",
                                                         "X-Forwarded-Proto": "https"}) as ws:
                h = ws.response_headers
                assert h["X-Backend"] == "echo-t", h
                assert h["X-Seen-Forwarded-For"] == "10.1.2.3", h
                assert h["X-Seen-Forwarded-Proto"] == "https", h
                assert h["X-Seen-Target"] == "/chat?room=a%2Fb", h
                assert ws.subprotocol == "chat.v2", ws.subprotocol
                assert await ws.recv() == "backend=echo-t"
        run(go())
    check("101 has accept, X-Backend, X-Seen-*, first subprotocol, hello", handshake_headers)

    def echoes():
        async def go():
            async with websockets.connect(uri, max_size=None) as ws:
                assert await ws.recv() == "backend=echo-t"
                for msg in ["hello", b"\x00\x01\xff", "", b"", "é" * 1000, os.urandom(70000),
                            os.urandom(1 << 20), "x" * (4 << 20)]:
                    await ws.send(msg)
                    got = await ws.recv()
                    assert got == msg and type(got) is type(msg), (type(msg), len(msg))
        run(go())
    check("text, binary, empty, 16/64-bit lengths, 1 MiB and 4 MiB echo", echoes)

    def fragmented():
        async def go():
            async with websockets.connect(uri, max_size=None) as ws:
                await ws.recv()
                await ws.send(["frag", "men", "ted"])
                assert await ws.recv() == "fragmented"
                await ws.send([b"a" * 100000, b"b", b"c" * 3])
                assert await ws.recv() == b"a" * 100000 + b"b" + b"ccc"
        run(go())
    check("fragmented messages are echoed whole with their opcode", fragmented)

    def ping_and_close():
        async def go():
            async with websockets.connect(uri) as ws:
                await ws.recv()
                waiter = await ws.ping(b"pp")
                await asyncio.wait_for(waiter, 5)
                await ws.close(code=4321, reason="bye now")
                assert ws.close_code == 4321 and ws.close_reason == "bye now", (ws.close_code, ws.close_reason)
        run(go())
    check("ping gets pong; close code and reason are echoed", ping_and_close)

    def specials():
        async def go():
            async with websockets.connect(uri + "/p", extra_headers={"X-User": "alice"}) as ws:
                await ws.recv()
                await ws.send("__whoami__")
                assert await ws.recv() == "backend=echo-t"
                await ws.send("__headers__")
                head = await ws.recv()
                assert head.startswith("GET /p HTTP/1.1\r\n") and "X-User: alice\r\n" in head and head.endswith("\r\n\r\n"), head
            async with websockets.connect(uri) as ws:
                await ws.recv()
                await ws.send("__close__ 4000 going away now")
                try:
                    await ws.recv()
                    raise AssertionError("expected a close")
                except websockets.ConnectionClosed:
                    pass
                assert ws.close_code == 4000 and ws.close_reason == "going away now", (ws.close_code, ws.close_reason)
            async with websockets.connect(uri) as ws:
                await ws.recv()
                await ws.send("__drop__")
                try:
                    await ws.recv()
                    raise AssertionError("expected a drop")
                except websockets.ConnectionClosedError:
                    pass
                assert ws.close_code == 1006, ws.close_code
        run(go())
    check("__whoami__, __headers__, __close__ CODE REASON, __drop__", specials)

    def first_frame_with_head():
        # The request head and a first frame in one write; the 101 and the hello in one read.
        req, key = upgrade_request("/raw")
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(req + mask_frame(1, b"early"))
            data = recv_until(s, b"\r\n\r\n")
            head, rest = data.split(b"\r\n\r\n", 1)
            accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            assert head.startswith(b"HTTP/1.1 101 ") and f"Sec-WebSocket-Accept: {accept}".encode() in head, head
            op, payload, rest = read_frame(s, rest)
            assert (op, payload) == (1, b"backend=echo-t"), (op, payload)
            op, payload, rest = read_frame(s, rest)
            assert (op, payload) == (1, b"early"), (op, payload)
            s.sendall(mask_frame(8, struct.pack("!H", 1000)))
            op, payload, rest = read_frame(s, rest)
            assert (op, payload) == (8, struct.pack("!H", 1000))
            assert s.recv(10) == b"", "TCP closed after the close handshake"
    check("frame sent with the request head is echoed; raw 101 + hello", first_frame_with_head)

    def byte_by_byte():
        req, _ = upgrade_request()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for b in req + mask_frame(2, b"slow", fin=False) + mask_frame(9, b"p") + mask_frame(0, b"ly"):
                s.send(bytes([b]))
            data = recv_until(s, b"\r\n\r\n")
            _, rest = data.split(b"\r\n\r\n", 1)
            _, _, rest = read_frame(s, rest)  # hello
            op, payload, rest = read_frame(s, rest)
            assert (op, payload) == (10, b"p"), "ping inside a fragmented message is answered at once"
            op, payload, rest = read_frame(s, rest)
            assert (op, payload) == (2, b"slowly"), (op, payload)
    check("input split into single bytes; ping between fragments", byte_by_byte)

    def protocol_errors():
        for frame, code in [(mask_frame(1, b"x", masked=False), 1002), (mask_frame(3, b""), 1002),
                            (mask_frame(0, b"x"), 1002), (mask_frame(9, b"x" * 126), 1002)]:
            req, _ = upgrade_request()
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(req + frame)
                _, rest = recv_until(s, b"\r\n\r\n").split(b"\r\n\r\n", 1)
                _, _, rest = read_frame(s, rest)
                op, payload, _ = read_frame(s, rest)
                assert op == 8 and struct.unpack("!H", payload[:2])[0] == code, (op, payload)
    check("unmasked, reserved opcode, stray continuation, long ping: Close 1002", protocol_errors)

    def backpressure():
        # Send 32 MiB of 1 MiB messages without reading: wsecho must stop reading rather than buffer it.
        req, _ = upgrade_request()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(req)
            _, rest = recv_until(s, b"\r\n\r\n").split(b"\r\n\r\n", 1)
            _, _, rest = read_frame(s, rest)
            msg = os.urandom(1 << 20)
            frame = mask_frame(2, msg)
            s.settimeout(3)
            sent = 0
            try:
                for _ in range(32):
                    s.sendall(frame)
                    sent += 1
            except socket.timeout:
                pass
            assert sent < 32, "wsecho kept reading although nobody read its echoes"
            rss = int(open(f"/proc/{proc.pid}/status").read().split("VmRSS:")[1].split()[0])
            assert rss < 64 * 1024, f"wsecho RSS {rss} KiB while backpressured"
    check("backpressure: a client that does not read is not read from", backpressure)

    def many_connections():
        async def go():
            n = 1500
            conns = await asyncio.gather(*(websockets.connect(uri, ping_interval=None) for _ in range(n)))
            await asyncio.gather(*(c.recv() for c in conns))
            await asyncio.gather(*(c.send(f"m{i}") for i, c in enumerate(conns)))
            got = await asyncio.gather(*(c.recv() for c in conns))
            assert got == [f"m{i}" for i in range(n)]
            await asyncio.gather(*(c.close() for c in conns))
        run(go())
    check("1500 concurrent connections", many_connections)

    def health_and_plain():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = recv_until(s, b"never", limit=1 << 16)
            assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nok"), data
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert recv_until(s, b"never").startswith(b"HTTP/1.1 400 ")
        req, _ = upgrade_request()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(req.replace(b"Version: 13", b"Version: 8"))
            data = recv_until(s, b"never")
            assert data.startswith(b"HTTP/1.1 426 ") and b"Sec-WebSocket-Version: 13\r\n" in data, data
    check("GET /health is 200 ok; plain GET 400; wrong version 426", health_and_plain)

    def sigterm_with_open_connections():
        # Idle, mid-head, mid-frame and backpressured connections: all must be closed and freed
        # (under ASan, a leak would turn the exit status non-zero).
        socks = []
        for extra in [b"", b"GET / HTTP/1.1\r\nHost:", mask_frame(2, b"z" * 5000)[:3000]]:
            s = socket.create_connection(("127.0.0.1", port))
            if extra.startswith(b"GET"):
                s.sendall(extra)
            elif extra:
                s.sendall(upgrade_request()[0] + extra)
            socks.append(s)
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(upgrade_request()[0])
        s.settimeout(2)
        try:
            for _ in range(16):
                s.sendall(mask_frame(2, os.urandom(1 << 20)))
        except socket.timeout:
            pass
        socks.append(s)
        time.sleep(0.2)
        stop(proc)
        for s in socks:
            s.close()
    check("SIGTERM with open connections exits 0", sigterm_with_open_connections)

    def reject():
        p, rport = start("--id", "echo-r", "--reject", "403")
        try:
            req, _ = upgrade_request()
            with socket.create_connection(("127.0.0.1", rport)) as s:
                s.sendall(req + mask_frame(1, b"never echoed"))
                data = recv_until(s, b"never")
                head, body = data.split(b"\r\n\r\n", 1)
                assert head.startswith(b"HTTP/1.1 403 Forbidden\r\n"), head
                assert b"Content-Length: 19\r\n" in head and body == b"rejected by echo-r\n", data
            with socket.create_connection(("127.0.0.1", rport)) as s:
                s.sendall(b"GET /health HTTP/1.1\r\n\r\n")
                assert recv_until(s, b"never").startswith(b"HTTP/1.1 200 ")
        finally:
            stop(p)
    check("--reject 403 answers upgrades with a body and closes; /health still 200", reject)

    def bad_cli():
        assert subprocess.run([WSECHO], capture_output=True).returncode == 2
        assert subprocess.run([WSECHO, "--listen", "nope"], capture_output=True).returncode == 2
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            r = subprocess.run([WSECHO, "--listen", f"127.0.0.1:{busy.getsockname()[1]}"], capture_output=True)
            assert r.returncode == 1 and b"cannot listen" in r.stderr, r
    check("usage errors exit 2; a busy port exits 1", bad_cli)

    print(f"selftest: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    print(f"({time.monotonic() - t0:.1f}s)")
    sys.exit(rc)
