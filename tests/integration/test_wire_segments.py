"""A WebSocket's life on the wire between the client and ringway, segment by segment. Two segments
per connection that HAProxy does not send either are saved (each is kernel work on both ends):
- the request's ACK rides on the 101: listening sockets start their connections with delayed ACKs
  (TCP_QUICKACK off, which accepted sockets inherit), as HAProxy's HTTP listeners do;
- when the backend's Close answers the client's, that Close and ringway's FIN go in one segment
  (MSG_MORE, then close), as HAProxy's MSG_MORE + shutdown does.

Seen with a packet capture on the loopback interface (an AF_PACKET socket, root only), so the tests
look at the segments themselves, not at what a client library makes of them."""
import ctypes
import socket
import struct
import time
import unittest

import harness as h

ETH_P_ALL = 0x0003
PACKET_HOST = 0  # on lo every packet is seen twice: as sent (PACKET_OUTGOING) and as received
TCP_FIN = 0x01
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33


def port_filter(port):
    """A classic BPF program: IPv4 TCP segments from or to `port` (what `tcpdump -dd 'ip and tcp port
    PORT'` gives). The kernel drops the rest before it reaches the capture, so a loaded machine's
    other loopback traffic (ctest runs tests in parallel) cannot fill its buffer."""
    program = [
        (0x28, 0, 0, 12),       # ldh [12]: EtherType
        (0x15, 0, 10, 0x0800),  # IPv4, else drop
        (0x30, 0, 0, 23),       # ldb [23]: IP protocol
        (0x15, 0, 8, 6),        # TCP, else drop
        (0x28, 0, 0, 20),       # ldh [20]: flags and fragment offset
        (0x45, 6, 0, 0x1FFF),   # a later fragment: drop
        (0xB1, 0, 0, 14),       # x = IP header length
        (0x48, 0, 0, 14),       # ldh [x + 14]: source port
        (0x15, 2, 0, port),     # accept
        (0x48, 0, 0, 16),       # ldh [x + 16]: destination port
        (0x15, 0, 1, port),     # accept, else drop
        (0x06, 0, 0, 0x40000),  # accept
        (0x06, 0, 0, 0),        # drop
    ]
    return b"".join(struct.pack("HBBI", *insn) for insn in program), len(program)


class LoopbackCapture:
    """TCP segments on lo from or to one port, as (source port, flags, payload)."""

    def __init__(self, port):
        # Protocol 0 until the filter is on: no packet gets in unfiltered.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        code, length = port_filter(port)
        self._code = ctypes.create_string_buffer(code, len(code))  # kept alive with the socket
        fprog = struct.pack("HxxxxxxQ", length, ctypes.addressof(self._code))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("lo", ETH_P_ALL))
        self.sock.setblocking(False)

    def close(self):
        self.sock.close()

    def drain(self):
        """Drops what was captured so far."""
        self.segments(0, 0)

    def segments(self, port_a, port_b):
        found = []
        while True:
            try:
                frame, addr = self.sock.recvfrom(65536)
            except BlockingIOError:
                return found
            if addr[2] != PACKET_HOST:
                continue
            ip = frame[14:]  # the filter passed IPv4 TCP only
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            tcp = ip[ihl:total]
            sport, dport = struct.unpack("!HH", tcp[:4])
            if {sport, dport} != {port_a, port_b}:
                continue
            offset = (tcp[12] >> 4) * 4
            found.append((sport, tcp[13], bytes(tcp[offset:])))


def open_capture(tc, port):
    try:
        return LoopbackCapture(port)
    except PermissionError:
        tc.skipTest("a packet capture needs CAP_NET_RAW (root)")


class Segments(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        rw = self.start_ringway([h.pool("chat", self.start_backends(1))])
        self.port = rw.port
        self.capture = open_capture(self, self.port)
        self.addCleanup(self.capture.close)

    def sent_by_ringway(self, s):
        """(flags, payload) of the segments ringway sent to this client since the last call."""
        client_port = s.getsockname()[1]
        return [(flags, payload) for sport, flags, payload in self.capture.segments(self.port, client_port)
                if sport == self.port]

    def finish(self, s, reader):
        """Reads the rest up to ringway's EOF; returns the segments ringway sent to this client."""
        _, how = h.read_until_eof(s, reader.buf)
        self.assertEqual(how, "eof")
        sent = []
        deadline = time.monotonic() + h.IO_TIMEOUT
        while not any(flags & TCP_FIN for flags, _ in sent) and time.monotonic() < deadline:
            sent += self.sent_by_ringway(s)
            time.sleep(0.01)
        return sent

    def test_the_requests_ack_rides_on_the_101(self):
        # The kernel still sends a bare ACK when its delayed-ACK timer (40 ms at least) fires before
        # the 101 came, as on a loaded machine it can: three tries, one without it is enough.
        tries = []
        for _ in range(3):
            self.capture.drain()  # what other connections left
            s, head, _ = h.raw_upgrade(self.port, "/ws")
            with s:
                self.assertEqual(head.status, 101)
                sent = self.sent_by_ringway(s)
            first_data = next(i for i, (_, payload) in enumerate(sent) if payload)
            self.assertEqual(sent[0][0] & 0x12, 0x12, sent)  # the SYN-ACK
            if first_data == 1:
                return
            tries.append(sent)
        self.fail(f"a bare ACK came before the 101 each time: {tries}")

    def test_the_backends_close_reply_carries_the_fin(self):
        s, _, reader = h.raw_upgrade(self.port, "/ws")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "before the close"))
            self.assertEqual(reader.read_frame().payload, b"before the close")
            self.capture.drain()  # what came before is not looked at
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(1000, "bye")))
            reply = reader.read_frame()
            self.assertEqual((reply.opcode, reply.close_code), (h.OP_CLOSE, 1000))
            sent = self.finish(s, reader)
        with_data = [(flags, payload) for flags, payload in sent if payload]
        self.assertEqual(len(with_data), 1, sent)
        flags, payload = with_data[0]
        self.assertEqual(payload[0], 0x80 | h.OP_CLOSE, sent)
        self.assertTrue(flags & TCP_FIN, f"the Close and the FIN came in separate segments: {sent}")
        self.assertEqual(sum(1 for flags, _ in sent if flags & TCP_FIN), 1, sent)

    def test_a_close_the_backend_started_still_ends_with_a_fin(self):
        # wsecho closes when told to by the text message "__close__ <code>"; the client answers that
        # Close, and its socket is closed when ringway has relayed the answer: a FIN on its own.
        s, _, reader = h.raw_upgrade(self.port, "/ws")
        with s:
            s.sendall(h.encode_frame(h.OP_TEXT, "__close__ 4000"))
            close = reader.read_frame()
            self.assertEqual((close.opcode, close.close_code), (h.OP_CLOSE, 4000))
            s.sendall(h.encode_frame(h.OP_CLOSE, h.close_payload(4000)))
            sent = self.finish(s, reader)
        self.assertEqual(sum(1 for flags, _ in sent if flags & TCP_FIN), 1, sent)


if __name__ == "__main__":
    unittest.main()
