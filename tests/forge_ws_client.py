"""Third-party WebSocket client check of `wirelab forge serve`'s /ws echo.

Usage: python3 forge_ws_client.py ws://127.0.0.1:PORT/ws
Works with the `websockets` package from 10.x (Debian) to current releases.
"""
import asyncio
import sys

import websockets


async def send_invalid_text(ws, data):
    try:
        await ws.send(data, text=True)  # websockets >= 14
    except TypeError:
        await ws.write_frame(True, 0x1, data)  # legacy protocol (10.x)


async def main(url):
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01\x02")
        assert await ws.recv() == b"\x00\x01\x02"
        await ws.send(["frag", "men", "ted"])
        assert await ws.recv() == "fragmented"
        big = "x" * 200_000
        await ws.send(big)
        assert await ws.recv() == big
        pong = await ws.ping(b"p")
        await asyncio.wait_for(pong, 5)
        await ws.close(code=4000, reason="bye")
        assert ws.close_code == 4000, ws.close_code
    print("echo, fragmentation, ping and close code: ok")

    async with websockets.connect(url) as ws:
        await send_invalid_text(ws, b"\xc3\x28")
        code = None
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
        assert code == 1007, code
    print("invalid UTF-8 closed with 1007: ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
