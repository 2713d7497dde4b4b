#!/usr/bin/env python3
"""An independent WebSocket client for arbiter's tests: the `websockets` package (PyPI) for
ordinary traffic, and raw sockets for frames a well-behaved client never sends.

    websocket_probe.py CHECK PORT [ARGS...]

Every check exits 0 when the server behaved as RFC 6455 / RFC 7692 say, else prints why and
exits 1. Every wait is bounded.
"""
import asyncio
import base64
import os
import resource
import signal
import socket
import struct
import sys
import time

import websockets
from websockets.exceptions import ConnectionClosed

TIMEOUT = 20


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


# ---- raw frames -------------------------------------------------------------------------------

def handshake(port, path="/ws", extra=b"", version=b"13", key=None):
    """Opens a TCP connection and sends an opening handshake; returns (socket, status, head)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    key = key if key is not None else base64.b64encode(os.urandom(16))
    request = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: " + version + b"\r\n"
               + extra + b"\r\n")
    s.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    return s, status, head, rest


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Reader:
    def __init__(self, s, buffered=b""):
        self.s = s
        self.buffer = buffered

    def need(self, n):
        while len(self.buffer) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def frame(self, skip_pings=True):
        """The next frame from the server: (opcode, payload); server frames are never masked.
        Keep-alive pings from the server are skipped unless asked for."""
        while True:
            opcode, payload = self.one_frame()
            if not (skip_pings and opcode == 0x9):
                return opcode, payload

    def one_frame(self):
        b0, b1 = self.need(2)
        if b1 & 0x80:
            fail("the server masked a frame (RFC 6455 §5.1)")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.need(8))[0]
        return b0 & 0x0F, self.need(n)


def expect_close(port, frames, code, label, extra=b""):
    """Sends `frames` after a handshake and expects a close frame with `code`, then the close."""
    s, status, _, rest = handshake(port, extra=extra)
    if status != 101:
        fail(f"{label}: handshake answered {status}")
    s.sendall(b"".join(frames))
    reader = Reader(s, rest)
    while True:
        try:
            opcode, payload = reader.frame()
        except EOFError:
            fail(f"{label}: connection closed without a close frame")
        if opcode == 0x8:
            got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            if got != code:
                fail(f"{label}: close code {got}, expected {code} ({payload[2:]!r})")
            break
    # §7.1.1: the server closes the TCP connection after the close handshake.
    s.settimeout(TIMEOUT)
    try:
        s.sendall(frame(0x8, struct.pack("!H", code)))
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
    print(f"ok {label}: {code}")


# ---- checks -----------------------------------------------------------------------------------

async def closed_code(ws, bound):
    """The close code a socket ends with, waiting up to `bound` seconds; a message instead fails."""
    try:
        await asyncio.wait_for(ws.recv(), bound)
        fail("a message came instead of the close")
    except ConnectionClosed:
        return ws.close_code


async def echo(port):
    """Text and binary at the framing boundaries, with and without compression."""
    for compression in (None, "deflate"):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=compression,
                                      open_timeout=TIMEOUT) as ws:
            for size in (0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20):
                text = ("é" * (size // 2)) + ("x" * (size % 2))
                await ws.send(text)
                got = await asyncio.wait_for(ws.recv(), TIMEOUT)
                if got != text:
                    fail(f"text of {size} bytes came back different (compression {compression})")
                data = bytes((i * 7) & 0xFF for i in range(size))
                await ws.send(data)
                got = await asyncio.wait_for(ws.recv(), TIMEOUT)
                if got != data:
                    fail(f"binary of {size} bytes came back different (compression {compression})")
            agreed = ws.response.headers.get("Sec-WebSocket-Extensions")
            if (compression is None) != (agreed is None):
                fail(f"compression {compression}, server agreed {agreed}")
            await ws.close()
            if ws.close_code != 1000:
                fail(f"closing handshake ended with {ws.close_code}")
    print("ok echo")


def fragments(port):
    """A fragmented text message with a ping between its fragments and a UTF-8 character split
    across two of them: a pong first, then the whole message (RFC 6455 §5.4, §5.5.2)."""
    s, status, _, rest = handshake(port)
    if status != 101:
        fail(f"handshake answered {status}")
    word = "grüße".encode()  # ü is two bytes: split it
    s.sendall(frame(0x1, word[:3], fin=False) + frame(0x9, b"mid") + frame(0x0, word[3:5], fin=False)
              + frame(0x0, word[5:], fin=True))
    reader = Reader(s, rest)
    opcode, payload = reader.frame()
    if (opcode, payload) != (0xA, b"mid"):
        fail(f"expected the pong first, got opcode {opcode} {payload!r}")
    opcode, payload = reader.frame()
    if (opcode, payload) != (0x1, word):
        fail(f"expected the reassembled text, got opcode {opcode} {payload!r}")
    s.close()
    print("ok fragments")


def violations(port, max_size):
    """Each protocol violation fails the connection with the code RFC 6455 §7.4.1 names."""
    expect_close(port, [frame(0x1, b"hi", mask=False)], 1002, "unmasked frame")
    expect_close(port, [frame(0x1, b"hi", rsv=0x4)], 1002, "RSV1 without an extension")
    expect_close(port, [frame(0x3, b"")], 1002, "reserved data opcode")
    expect_close(port, [frame(0xB, b"")], 1002, "reserved control opcode")
    expect_close(port, [frame(0x9, b"p", fin=False)], 1002, "fragmented ping")
    expect_close(port, [frame(0x9, b"p" * 126)], 1002, "ping over 125 bytes")
    expect_close(port, [frame(0x0, b"x")], 1002, "continuation without a message")
    expect_close(port, [frame(0x1, b"a", fin=False), frame(0x1, b"b")], 1002, "new message inside a fragmented one")
    expect_close(port, [frame(0x1, b"\xff\xfe")], 1007, "text that is not UTF-8")
    expect_close(port, [frame(0x1, b"\xe2\x82", fin=False), frame(0x0, b"\x28")], 1007, "UTF-8 broken across fragments")
    expect_close(port, [frame(0x8, struct.pack("!H", 1000) + b"\xff")], 1007, "close reason not UTF-8")
    expect_close(port, [frame(0x8, b"\x03")], 1002, "one-byte close payload")
    expect_close(port, [frame(0x8, struct.pack("!H", 1005))], 1002, "close code 1005 on the wire")
    expect_close(port, [frame(0x2, b"x" * (max_size + 1))], 1009, "message over the size limit")
    expect_close(port, [frame(0x2, b"x" * 1000, fin=False), frame(0x0, b"x" * (max_size - 999))], 1009,
                 "fragments over the size limit")
    # A normal close: the server answers 1000 with 1000.
    expect_close(port, [frame(0x8, struct.pack("!H", 1000))], 1000, "client close")


def handshakes(port):
    """Refused handshakes get the status RFC 6455 §4.2.2 and §4.4 name."""
    s, status, head, _ = handshake(port, version=b"12")
    if status != 426 or b"sec-websocket-version: 13" not in head.lower():
        fail(f"version 12 answered {status} without Sec-WebSocket-Version: 13:\n{head.decode(errors='replace')}")
    # RFC 9110 §15.5.22 and §7.8: a 426 sends Upgrade, and Connection names it.
    lines = [line.lower() for line in head.split(b"\r\n")]
    if b"upgrade: websocket" not in lines or not any(l.startswith(b"connection:") and b"upgrade" in l for l in lines):
        fail(f"the 426 lacks Upgrade: websocket or the Connection upgrade option:\n{head.decode(errors='replace')}")
    s.close()
    # RFC 9110 §7.8: a handshake's bytes after the head would be frames; one with a body is refused.
    s, status, _, _ = handshake(port, extra=b"Content-Length: 4\r\n")
    if status != 400:
        fail(f"a handshake with a body answered {status}")
    s.close()
    s, status, _, _ = handshake(port, key=b"c2hvcnQ=")
    if status != 400:
        fail(f"a key of 5 bytes answered {status}")
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
    head = s.recv(4096)
    if not head.startswith(b"HTTP/1.1 400"):
        fail(f"a plain GET of the WebSocket route answered {head[:40]!r}")
    s.close()
    s, status, head, _ = handshake(port, key=b"dGhlIHNhbXBsZSBub25jZQ==")
    if status != 101 or b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" not in head:
        fail(f"the RFC's sample key did not get its accept value:\n{head.decode(errors='replace')}")
    s.close()
    print("ok handshakes")


async def inflate_limit(port, max_size):
    """A small compressed message that inflates past the limit fails with 1009 (RFC 7692 §8.1)."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression="deflate", max_size=None,
                                  open_timeout=TIMEOUT) as ws:
        await ws.send(b"\0" * (max_size * 4))
        try:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
            fail("the oversized message was echoed")
        except ConnectionClosed:
            pass
        if ws.close_code != 1009:
            fail(f"inflate limit: close code {ws.close_code}, expected 1009")
    print("ok inflate limit")


def server_pings(port):
    """With --ws-ping-interval, the server pings; a client that never answers is dropped after
    --ws-ping-timeout."""
    s, status, _, rest = handshake(port)
    if status != 101:
        fail(f"handshake answered {status}")
    reader = Reader(s, rest)
    opcode, payload = reader.frame(skip_pings=False)
    if opcode != 0x9:
        fail(f"expected a ping, got opcode {opcode}")
    try:
        while True:
            opcode, _ = reader.frame()
            if opcode == 0x8:
                break
    except (EOFError, ConnectionResetError):
        pass
    s.close()
    print("ok server pings, and drops a silent peer")


async def many(port, count):
    """`count` sockets open at once on one worker, each echoing."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count * 2 + 100)), hard))
    sockets = []
    for _ in range(count):
        sockets.append(await websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT, compression=None))

    async def one(i, ws):
        await ws.send(f"message {i}")
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if got != f"message {i}":
            fail(f"socket {i} got {got!r}")
    await asyncio.gather(*(one(i, ws) for i, ws in enumerate(sockets)))
    await asyncio.gather(*(ws.close() for ws in sockets))
    print(f"ok {count} sockets at once")


async def reload(port, count, master_pid, bound):
    """HUP with `count` open sockets: every one receives 1001 within `bound` seconds, and new
    connections (to the new generation) echo."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count * 2 + 100)), hard))
    sockets = [await websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT, compression=None)
               for _ in range(count)]
    for ws in sockets:
        await ws.send("before")
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    # Clients that never answer the close frame: dropped after --ws-close-timeout.
    deaf = []
    for _ in range(5):
        s, status, _, _ = handshake(port)
        if status != 101:
            fail(f"handshake answered {status}")
        deaf.append(s)
    started = time.monotonic()
    os.kill(master_pid, signal.SIGHUP)

    codes = await asyncio.gather(*(closed_code(ws, bound + 5) for ws in sockets))
    elapsed = time.monotonic() - started
    wrong = [c for c in codes if c != 1001]
    if wrong:
        fail(f"{len(wrong)} of {count} sockets closed with {sorted(set(wrong))}, not 1001")
    if elapsed > bound:
        fail(f"the sockets took {elapsed:.1f}s to close, over {bound}s")

    def dropped(s):
        s.settimeout(bound + 5)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        return time.monotonic() - started
    late = max(await asyncio.gather(*(asyncio.to_thread(dropped, s) for s in deaf)))
    if late > bound:
        fail(f"clients that never answered the close were dropped after {late:.1f}s, over {bound}s")
    again = [await websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT, compression=None)
             for _ in range(count)]
    for ws in again:
        await ws.send("after")
        if await asyncio.wait_for(ws.recv(), TIMEOUT) != "after":
            fail("no echo after the reload")
    await asyncio.gather(*(ws.close() for ws in again))
    print(f"ok reload: {count} sockets got 1001 in {elapsed:.2f}s, silent ones were dropped after {late:.2f}s, "
          f"and new connections echo")


async def chat(port):
    """The chat example: what one member says reaches every member of the worker's room."""
    async def expect(ws, text):
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if got != text:
            fail(f"expected {text!r}, got {got!r}")
    ann = await websockets.connect(f"ws://127.0.0.1:{port}/chat?name=ann", open_timeout=TIMEOUT)
    await expect(ann, "ann joined")
    bob = await websockets.connect(f"ws://127.0.0.1:{port}/chat?name=bob", open_timeout=TIMEOUT)
    await expect(ann, "bob joined")
    await expect(bob, "bob joined")
    await bob.send("hi")
    await expect(ann, "bob: hi")
    await expect(bob, "bob: hi")
    await bob.close()
    await expect(ann, "bob left")
    await ann.close()
    print("ok chat")


async def going_away(port, count, master_pid, signame, bound):
    """Every open socket receives 1001 within `bound` seconds of the signal (TERM: the server stops;
    `recycle`: no signal, the worker reached --max-requests with the sockets' own handshakes)."""
    sockets = [await websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT, compression=None)
               for _ in range(count)]
    started = time.monotonic()
    if signame != "recycle":
        # (Recycling starts with the last handshake: the worker may already be closing them.)
        for ws in sockets:
            await ws.send("before")
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        started = time.monotonic()
        os.kill(master_pid, getattr(signal, "SIG" + signame))

    codes = await asyncio.gather(*(closed_code(ws, bound + 5) for ws in sockets))
    elapsed = time.monotonic() - started
    if any(c != 1001 for c in codes):
        fail(f"close codes {sorted(set(codes))}, not 1001")
    if elapsed > bound:
        fail(f"the sockets took {elapsed:.1f}s to close, over {bound}s")
    print(f"ok {signame}: {count} sockets got 1001 in {elapsed:.2f}s")


def main():
    check, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    if check == "echo":
        asyncio.run(echo(port))
    elif check == "fragments":
        fragments(port)
    elif check == "violations":
        violations(port, int(args[0]))
    elif check == "handshakes":
        handshakes(port)
    elif check == "inflate-limit":
        asyncio.run(inflate_limit(port, int(args[0])))
    elif check == "server-pings":
        server_pings(port)
    elif check == "chat":
        asyncio.run(chat(port))
    elif check == "many":
        asyncio.run(many(port, int(args[0])))
    elif check == "going-away":
        asyncio.run(going_away(port, int(args[0]), int(args[1]), args[2], float(args[3])))
    elif check == "reload":
        asyncio.run(reload(port, int(args[0]), int(args[1]), float(args[2])))
    else:
        fail(f"unknown check {check}")


if __name__ == "__main__":
    main()
