"""A raw TCP echo backend for the `mode: tcp` tests (python asyncio), run as its own process so that
a test can SIGKILL it like a crashed server:

    /usr/bin/python3 tcpecho.py --name NAME [--tls CERT KEY] [--close-after N]

prints "tcpecho NAME listening on 127.0.0.1:PORT" once ready. It echoes every byte; when the client
ends its side (EOF, or close_notify over TLS) it sends the trailer b"BYE NAME COUNT\\n" (COUNT: the
bytes it received) and closes. So a client that sends nothing and half-closes learns which backend
it reached, and a half-close is checked end to end (the trailer travels after the client's FIN).
With --close-after N it ends the connection itself (trailer, then close) once it has echoed N bytes.
"""

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys


async def serve(name, tls, close_after):
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])

    async def handle(reader, writer):
        count = 0
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                count += len(data)
                writer.write(data)
                await writer.drain()
                if close_after is not None and count >= close_after:
                    break
            writer.write(f"BYE {name} {count}\n".encode())
            await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"tcpecho {name} listening on 127.0.0.1:{port}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--close-after", type=int)
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(serve(args.name, args.tls, args.close_after))


if __name__ == "__main__":
    main()
