"""A pymodbus 3.0.0 server run as a child process by modbus_peers.py: Modbus TCP
(or RTU framing over TCP) on 127.0.0.1, and/or Modbus RTU on a serial device
(one end of a socat pty pair). Every server started here shares one datastore,
so an RTU server can be given a TCP "read-back" port through which a test reads
what Ironbridge wrote over the serial line.

Run by /usr/bin/python3 (which sees pymodbus). Prints one line once every
server is up:  READY {"tcp": <port or null>, "readback": <port or null>}
and runs until SIGTERM, SIGINT, end of stdin (its parent went away) or
--lifetime seconds.

The datastore spec (--spec, JSON):
  {"size": 1000,                  registers and bits per area (default 1000)
   "units": {"1": {"hr": {"0": 17}, "ir": {...}, "co": {"3": true}, "di": {...}}}}
Addresses are wire addresses (0-based). Without "units" one context answers
every unit id; with it, only the units listed answer (others get no reply).
Initial values before the spec's are those of ib_modbus_peer: holding[i] = i,
input[i] = 1000 + i, coil[i] = i % 2, discrete[i] = (i % 3 == 0).
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer


def fail(message):
    # os._exit, not SystemExit: the stdin thread must not hold up the exit.
    sys.stderr.write("pymodbus_server: %s\n" % message)
    sys.stderr.flush()
    os._exit(1)


def build_slave(size, preload):
    hr = [i & 0xFFFF for i in range(size)]
    ir = [(1000 + i) & 0xFFFF for i in range(size)]
    co = [bool(i % 2) for i in range(size)]
    di = [i % 3 == 0 for i in range(size)]
    for area, values in (("hr", hr), ("ir", ir), ("co", co), ("di", di)):
        for addr, v in (preload or {}).get(area, {}).items():
            a = int(addr)
            if not 0 <= a < size:
                fail("%s address %s outside 0..%d" % (area, addr, size - 1))
            values[a] = bool(v) if area in ("co", "di") else int(v) & 0xFFFF
    # pymodbus adds 1 to every wire address unless zero_mode is set; with it and
    # blocks starting at 0, wire address N is list index N.
    return ModbusSlaveContext(
        hr=ModbusSequentialDataBlock(0, hr), ir=ModbusSequentialDataBlock(0, ir),
        co=ModbusSequentialDataBlock(0, co), di=ModbusSequentialDataBlock(0, di),
        zero_mode=True)


def build_context(spec):
    size = int(spec.get("size", 1000))
    units = spec.get("units")
    if not units:
        return ModbusServerContext(slaves=build_slave(size, spec.get("preload")), single=True)
    return ModbusServerContext(
        slaves={int(u): build_slave(size, p) for u, p in units.items()}, single=False)


async def main(args):
    spec = json.loads(args.spec) if args.spec else {}
    context = build_context(spec)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # End of stdin means the parent is gone: never outlive a test.
    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(stop.set)
    threading.Thread(target=watch_stdin, daemon=True).start()

    tasks, tcp_servers, ports = [], [], {"tcp": None, "readback": None}

    async def start_tcp(port, framer):
        # ignore_missing_slaves only matters in single=False mode, where pymodbus's
        # framer already drops requests for unknown units before they get here.
        server = ModbusTcpServer(context, framer=framer, address=("127.0.0.1", port),
                                 allow_reuse_address=True, ignore_missing_slaves=True)
        tasks.append(asyncio.create_task(server.serve_forever()))
        await asyncio.wait_for(server.serving, 10)
        tcp_servers.append(server)
        return server.server.sockets[0].getsockname()[1]

    if args.tcp_port is not None:
        framer = ModbusRtuFramer if args.framer == "rtu" else ModbusSocketFramer
        ports["tcp"] = await start_tcp(args.tcp_port, framer)
    if args.readback_port is not None:
        ports["readback"] = await start_tcp(args.readback_port, ModbusSocketFramer)
    serial_server = None
    if args.serial:
        # StartAsyncSerialServer would default to the ASCII framer; build it directly.
        serial_server = ModbusSerialServer(
            context, framer=ModbusRtuFramer, port=args.serial, baudrate=args.baud,
            parity=args.parity, bytesize=args.bytesize, stopbits=args.stopbits,
            ignore_missing_slaves=True)
        # _connect() logs and swallows errors other than SerialException, so check
        # that the port is open before saying READY.
        await serial_server.start()
        if serial_server.transport is None:
            fail("could not open %s (a pty refuses some settings: parity even on Linux 6.x)"
                 % args.serial)

    print("READY " + json.dumps(ports), flush=True)
    try:
        await asyncio.wait_for(stop.wait(), args.lifetime)
    except asyncio.TimeoutError:
        pass
    # ModbusTcpServer.server_close() in 3.0.0 touches attributes a TCP server never
    # sets (endpoint, protocol); close the listening sockets ourselves.
    for s in tcp_servers:
        for conn in list(s.active_connections.values()):
            conn.transport.close()
        s.server.close()
    if serial_server is not None:
        await serial_server.shutdown()
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tcp-port", type=int, help="serve Modbus over TCP on this port (0: any)")
    p.add_argument("--framer", choices=("socket", "rtu"), default="socket",
                   help="framing on --tcp-port: socket (MBAP, Modbus TCP) or rtu (RTU over TCP)")
    p.add_argument("--readback-port", type=int, help="a second Modbus TCP server on the same data")
    p.add_argument("--serial", help="serial device for a Modbus RTU server")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--parity", choices=("N", "E", "O"), default="N")
    p.add_argument("--bytesize", type=int, default=8)
    p.add_argument("--stopbits", type=int, default=1)
    p.add_argument("--spec", help="datastore spec (JSON, see the module doc)")
    p.add_argument("--lifetime", type=float, default=3600.0)
    p.add_argument("--debug", action="store_true", help="pymodbus debug log on stderr")
    a = p.parse_args()
    if a.tcp_port is None and not a.serial:
        p.error("give --tcp-port and/or --serial")
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.CRITICAL, stream=sys.stderr)
    asyncio.run(main(a))
    # asyncio.run() cancels what is left; the stdin thread is a daemon.
    os._exit(0)
