"""Edge-triggered polling of established WebSockets (proxy/edge_poll.h): once a connection has
exchanged enough short reads, ringway polls its sockets edge-triggered, and no byte and no end may
be lost for it.

The hard case is an end that arrives with the last bytes: the peer sends its last frames and its FIN
in one TCP segment (MSG_MORE, then shutdown), so one readiness report carries both, the read takes
the bytes, and no new edge ever comes for the FIN. Each test first runs enough round trips for both
of ringway's sockets to be edge-polled (ringway_sockets_edge_triggered_total says they were), then
ends that way, from the backend and from the client, with and without a Close frame. Then the
transitions: a flood that fills ringway's read slab (back to level triggering) and stalls the reader
(reading stops for backpressure and resumes), followed by more round trips and the same hard end;
`mode: tcp`, whose relay is the same; a python3-websockets client through wsecho with messages
below and above the slab's size; and a shutdown, whose Close 1001 must reach every edge-polled
connection."""

import asyncio
import signal
import socket
import struct
import threading
import time
import unittest

import harness as h
import tcp_helpers as tcp
from test_limits_helpers import RecordingBackend, metric

EDGE = "ringway_sockets_edge_triggered_total"
ROUND_TRIPS = 40       # ringway switches a socket after 16 short reads in a row
CONNECTIONS = 10       # each end is tried on this many connections
FLOOD = 8 * 1024 * 1024


def text(payload):
    return h.encode_frame(h.OP_TEXT, payload, mask=True)


def send_with_fin(sock, data):
    """`data` and the FIN in one segment: corked by MSG_MORE, the shutdown sends both at once."""
    sock.send(data, socket.MSG_MORE)
    sock.shutdown(socket.SHUT_WR)


def echo_until(conn, actions):
    """A backend's loop: echoes data frames; a frame whose payload is a key of `actions` runs that
    action instead, and the loop ends when the action returns True (or the connection ends)."""
    while True:
        f = conn.read_frame()
        if f is None or f.opcode == h.OP_CLOSE:
            return
        action = actions.get(f.payload)
        if action is None:
            conn.send(h.encode_frame(f.opcode, f.payload, mask=False))
        elif action():
            return


def end_with_fin(conn, close):
    """The backend's last message (and a Close 1000 with `close`) and its FIN in one segment; then
    reads what comes until the end. True: the backend's loop is over."""
    last = h.encode_frame(h.OP_TEXT, b"last", mask=False)
    send_with_fin(conn.sock, last + (h.encode_frame(h.OP_CLOSE, h.close_payload(1000), mask=False) if close else b""))
    while conn.read_frame() is not None:
        pass
    return True


def read_data_frame(reader):
    f = reader.read_frame()
    while f.opcode in (h.OP_PING, h.OP_PONG):
        f = reader.read_frame()
    return f


def read_eof(sock, timeout=h.IO_TIMEOUT):
    """True once the peer ended the connection (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def ping_pong(testcase, sock, reader, rounds=ROUND_TRIPS, tag="m"):
    for i in range(rounds):
        payload = f"{tag}{i}".encode()
        sock.sendall(text(payload))
        f = read_data_frame(reader)
        testcase.assertEqual((f.opcode, f.payload), (h.OP_TEXT, payload), f"round trip {i}")


class EdgePoll(h.IntegrationTestCase):
    def start(self, script):
        self.backend = RecordingBackend(self, script)
        pools = [h.pool("rec", [{"name": "r1", "address": self.backend.address}])]
        return self.start_ringway(pools, top={"workers": 1})

    def open_ws(self, rw, path="/"):
        sock, head, reader = h.raw_upgrade(rw.port, path)
        self.assertEqual(head.status, 101)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, reader

    def assert_edge_polled(self, rw, at_least):
        self.assertGreaterEqual(metric(rw, EDGE), at_least,
                                "ringway never polled these sockets edge-triggered: the test proves nothing")

    def backend_ends_behind_its_last_message(self, close, check_end):
        """On CONNECTIONS edge-polled connections, the backend answers "bye" with its last message
        (and a Close 1000 with `close`) and its FIN in one segment; the client reads "last", then
        check_end(sock, reader, n) checks what follows."""
        rw = self.start(lambda conn: echo_until(conn, {b"bye": lambda: end_with_fin(conn, close=close)}))
        for n in range(CONNECTIONS):
            sock, reader = self.open_ws(rw)
            with sock:
                ping_pong(self, sock, reader)
                if n == 0:
                    self.assert_edge_polled(rw, 2)
                sock.sendall(text(b"bye"))
                self.assertEqual(read_data_frame(reader).payload, b"last", f"connection {n}")
                check_end(sock, reader, n)
        self.assert_edge_polled(rw, 2 * CONNECTIONS)

    def test_backend_ends_right_behind_its_last_message(self):
        """Last message + Close + FIN from the backend in one segment: the client gets all three."""
        def check_end(sock, reader, n):
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1000), f"connection {n}")
            # No Close answer: only the backend's FIN, passed on, ends the client's side now.
            self.assertTrue(read_eof(sock), f"connection {n}: ringway never passed the backend's FIN on")

        self.backend_ends_behind_its_last_message(True, check_end)

    def test_backend_fin_without_close_behind_its_last_message(self):
        """Last message + FIN (no Close) from the backend: the client gets the message, then 1012."""
        def check_end(_sock, reader, n):
            f = reader.read_frame()
            self.assertEqual((f.opcode, f.close_code), (h.OP_CLOSE, 1012),
                             f"connection {n}: the backend's FIN behind its last bytes was lost")

        self.backend_ends_behind_its_last_message(False, check_end)

    def test_client_ends_right_behind_its_last_message(self):
        """Last message + FIN from the client in one segment, with a Close frame and without: the
        backend gets the message, the Close if one was sent, and the end."""
        rw = self.start(lambda conn: conn.serve(answer_close=False))
        for n in range(CONNECTIONS):
            with_close = n % 2 == 0
            sock, reader = self.open_ws(rw)
            with sock:
                ping_pong(self, sock, reader)
                close = h.encode_frame(h.OP_CLOSE, h.close_payload(1000)) if with_close else b""
                send_with_fin(sock, text(b"last") + close)
                conn = self.backend.wait_conn(n)
                self.assertTrue(conn.ended.wait(h.budget(h.IO_TIMEOUT)),
                                f"connection {n}: the backend never saw the client's end")
                self.assertEqual(conn.how_ended, "eof", f"connection {n}")
                got = [(f.opcode, f.payload) for f in conn.snapshot()]
                want = [(h.OP_TEXT, b"last")] + ([(h.OP_CLOSE, h.close_payload(1000))] if with_close else [])
                self.assertEqual(got[-len(want):], want, f"connection {n}")
        self.assert_edge_polled(rw, 2 * CONNECTIONS)

    def test_flood_and_stall_then_round_trips_and_the_hard_end_again(self):
        """A flood fills the slab (level triggering again) and stalls the backend (reading stops and
        resumes); the connection then goes on exchanging messages and ends as in the first test."""
        frame_size = 1024 * 1024
        frames = FLOOD // frame_size

        def take_flood(conn):
            time.sleep(1.0)  # the client's flood piles up behind ringway meanwhile
            for i in range(frames):
                g = conn.read_frame()
                if g is None or len(g.payload) != frame_size or g.payload[:4] != struct.pack("!I", i):
                    conn.send(h.encode_frame(h.OP_TEXT, f"bad flood frame {i}".encode(), mask=False))
                    return True
            conn.send(h.encode_frame(h.OP_TEXT, b"flood ok", mask=False))
            return False

        rw = self.start(lambda conn: echo_until(conn, {b"stall": lambda: take_flood(conn),
                                                       b"bye": lambda: end_with_fin(conn, close=True)}))
        sock, reader = self.open_ws(rw)
        with sock:
            ping_pong(self, sock, reader, tag="a")
            before = metric(rw, EDGE)
            self.assertGreaterEqual(before, 2)
            sock.sendall(text(b"stall"))
            sender = threading.Thread(target=lambda: [
                sock.sendall(h.encode_frame(h.OP_BINARY, struct.pack("!I", i) + bytes(frame_size - 4)))
                for i in range(frames)])
            sender.start()
            sender.join(h.budget(h.IO_TIMEOUT * 3))
            self.assertFalse(sender.is_alive(), "the flood never got through")
            self.assertEqual(read_data_frame(reader).payload, b"flood ok")
            ping_pong(self, sock, reader, tag="b")
            self.assertGreater(metric(rw, EDGE), before, "the flood never turned a socket back to level")
            sock.sendall(text(b"bye"))
            self.assertEqual(read_data_frame(reader).payload, b"last")
            self.assertEqual(reader.read_frame().close_code, 1000)
            self.assertTrue(read_eof(sock), "ringway never passed the backend's FIN on")

    def test_websockets_client_through_wsecho_small_and_large_messages(self):
        """An independent client and echo server: messages below and above the 64 KiB slab in turn,
        every echo intact, then a clean close."""
        echo = self.start_backend("e1")
        rw = self.start_ringway([h.pool("echo", [{"name": "e1", "address": echo.address}])],
                                top={"workers": 1})

        async def go():
            async with h.ws_connect(rw) as ws:
                for i in range(300):
                    size = 100 if i % 50 < 40 else 200_000 + i
                    payload = bytes([i % 251]) * size
                    await ws.send(payload)
                    self.assertEqual(await ws.recv(), payload, f"message {i}")
                await ws.close()
                self.assertEqual(ws.close_code, 1000)

        h.run(go())
        self.assertGreaterEqual(metric(rw, EDGE), 2)

    def test_shutdown_sends_1001_to_edge_polled_websockets(self):
        """SIGTERM with every socket edge-polled: each python3-websockets client gets Close 1001 and
        ringway exits 0 (ringway's own Close frames and the ends that follow are not lost either)."""
        echo = self.start_backend("e1")
        rw = self.start_ringway([h.pool("echo", [echo])],
                                top={"workers": 1, "shutdown": {"delay": "0s", "drain_timeout": "3s"}})
        n = 10

        async def go():
            conns = [await h.ws_connect(rw, f"/drain/{i}") for i in range(n)]
            for ws in conns:
                for j in range(ROUND_TRIPS):
                    await ws.send(f"m{j}")
                    self.assertEqual(await ws.recv(), f"m{j}")
            edge = await asyncio.to_thread(metric, rw, EDGE)
            rw.proc.send_signal(signal.SIGTERM)
            for ws in conns:
                await asyncio.wait_for(ws.wait_closed(), h.budget(h.IO_TIMEOUT * 2))
            rc = await asyncio.to_thread(rw.wait_exit, h.budget(h.IO_TIMEOUT * 2))
            return edge, [ws.close_code for ws in conns], rc

        edge, codes, rc = h.run(go())
        self.assertGreaterEqual(edge, 2 * n)
        self.assertEqual(codes, [1001] * n)
        self.assertEqual(rc, 0)


class EdgePollTcpMode(tcp.TcpCase):
    def test_tcp_mode_client_fin_behind_its_last_bytes(self):
        """mode: tcp relays the same way: after round trips, the client's last bytes and FIN in one
        segment reach tcpecho, whose trailer (sent once it saw the EOF) and end come back."""
        echo = self.start_echo("t1")
        rw = self.start_tcp_ringway([h.pool("tcp", [echo])], top={"workers": 1})
        sent = 0
        with tcp.connect(rw.port) as sock:
            for i in range(ROUND_TRIPS):
                payload = f"r{i:04d}".encode()
                sock.sendall(payload)
                sent += len(payload)
                self.assertEqual(h.read_exact(sock, len(payload))[0], payload, f"round trip {i}")
            self.assertGreaterEqual(metric(rw, EDGE), 2)
            send_with_fin(sock, b"last")
            sent += 4
            data, how = h.read_until_eof(sock)
            self.assertEqual((data, how), (b"last" + tcp.trailer("t1", sent), "eof"),
                             "the client's FIN behind its last bytes never reached the backend")


if __name__ == "__main__":
    unittest.main()
