"""Modbus RTU, end to end: Ironbridge opens one end of a socat pty pair and
pymodbus's serial RTU server answers on the other; and RTU framing over TCP
(driver modbus-rtu-over-tcp) against pymodbus's TCP server with the RTU framer.
What a user sees is checked on Ironbridge's MQTT port; what Ironbridge wrote is
read back from pymodbus's datastore through a Modbus TCP port sharing it.

A pty carries bytes at any speed, so the baud rates here check that Ironbridge
configures and uses the port at each, not the timing of a real line. Linux 6.x
ptys refuse parity settings, so every device here uses parity "none".
"""

import os
import shutil
import tempfile
import unittest

import ibharness as h
import modbus_peers as mp
from modbus_peers import (Approx, ModbusCase, PymodbusRtuServer, PymodbusTcpServer, coil, device,
                          discrete, encode_registers, group, holding, input_reg, tag)


def layout(*items):
    """{wire: register} from (wire, value, type, order) items."""
    out = {}
    for wire, value, dtype, order in items:
        for i, r in enumerate(encode_registers(value, dtype, order)):
            out[wire + i] = r
    return out


PRELOAD = layout((0, -12345, "int16", "B"), (10, 21.5, "float32", "BB"), (12, 4000000001, "uint32", "LB"),
                 (14, -5, "int64", "BL"))
PRELOAD.update({20 + i: r for i, r in enumerate(encode_registers("RTU-1", "string", length=3))})

READ_TAGS = [
    tag("i16", holding(0), "int16"),
    tag("f32", holding(10, suffix="#BB"), "float32"),
    tag("u32", holding(12, suffix="#LB"), "uint32"),
    tag("i64", holding(14, suffix="#BL"), "int64"),
    tag("name", holding(20, suffix=".3"), "string"),
    tag("c1", coil(1), "bool"),
    tag("d3", discrete(3), "bool"),
    tag("ir5", input_reg(5)),
    tag("bit", holding(0, suffix=".0"), "bool"),   # -12345 = 0xCFC7: bit 0 set
]
READ_EXPECT = {"i16": -12345, "f32": Approx(21.5, 1e-6), "u32": 4000000001, "i64": -5, "name": "RTU-1",
               "c1": True, "d3": True, "ir5": 1005, "bit": True}


def rtu_device(server, groups, name="rtu1", **keys):
    return device(name, groups, driver="modbus-rtu", serial_port=server.device, baud=server.baud,
                  parity="none", data_bits=8, stop_bits=1, **keys)


@h.ironbridge_only("Modbus RTU")
class ModbusRtuTest(ModbusCase):

    def _read_at(self, baud):
        srv = self.peer(PymodbusRtuServer(baud=baud, hr=PRELOAD))
        b = self.start_node(rtu_device(srv, [group("g", READ_TAGS, interval_ms=200)]))
        self.status(b, "rtu1").wait_state("connected")
        d = self.readings(b, "rtu1").wait_values(READ_EXPECT)
        self.assertEqual((d["device"], d["group"]), ("rtu1", "g"))
        return srv, b

    def test_read_every_area_at_9600(self):
        self._read_at(9600)

    def test_read_every_area_at_115200(self):
        self._read_at(115200)

    def test_write_and_read_back(self):
        srv = self.peer(PymodbusRtuServer(baud=19200, hr={30: 0, 31: 0, 40: 0x0100}))
        b = self.start_node(rtu_device(srv, [group("g", [
            tag("sp", holding(30, suffix="#BB"), "float32", access="rw"),
            tag("mode", holding(40), "uint16", access="rw"),
            tag("flag", holding(40, suffix=".0"), "bool", access="rw"),
            tag("out2", coil(2), "bool", access="rw"),
        ], interval_ms=200)]))
        self.status(b, "rtu1").wait_state("connected")
        w = self.writer(b, "rtu1")
        c = srv.client()
        self.addCleanup(c.close)
        res = w.send({"id": "rtu-w1", "tag": "sp", "value": 42.5})
        self.assertEqual(res, {"id": "rtu-w1", "ok": True, "results": {"sp": {"ok": True}}})
        self.assertEqual(mp.read_holding(c, 30, 2), encode_registers(42.5, "float32", "BB"))
        res = w.send({"id": "rtu-w2", "values": {"mode": 0x0202, "out2": True}})
        self.assertIs(res["ok"], True, res)
        self.assertEqual(mp.read_holding(c, 40, 1), [0x0202])
        self.assertEqual(mp.read_coils(c, 2, 1), [True])
        res = w.send({"id": "rtu-w3", "tag": "flag", "value": True})
        self.assertIs(res["ok"], True, res)
        self.assertEqual(mp.read_holding(c, 40, 1), [0x0203], "the other bits of the register were kept")
        self.readings(b, "rtu1").wait_values({"sp": 42.5, "mode": 0x0203, "flag": True, "out2": True})

    def test_units_on_one_bus_and_an_absent_one(self):
        srv = self.peer(PymodbusRtuServer(baud=9600, units={1: {"hr": {0: 11}}, 2: {"hr": {0: 22}}}))
        b = self.start_node(rtu_device(srv, [
            group("g", [tag("u1", holding(0, unit=1)), tag("u2", holding(0, unit=2))], interval_ms=200),
            group("absent", [tag("u3", holding(0, unit=3))], interval_ms=200)], timeout_ms=300))
        r = self.readings(b, "rtu1")
        r.wait_values({"u1": 11, "u2": 22})
        d = r.wait_errors({"u3": 1000}, timeout=30)
        self.assertTrue(d["errors"]["u3"]["error"].startswith("timeout: "), d["errors"]["u3"])
        # The absent unit does not take the others down with it.
        r.wait_values({"u1": 11, "u2": 22})

    def test_illegal_address_among_good_tags(self):
        srv = self.peer(PymodbusRtuServer(size=200))
        b = self.start_node(rtu_device(srv, [group("g", [
            tag("ok", holding(7)), tag("beyond", holding(500)), tag("ok2", holding(199))])]))
        r = self.readings(b, "rtu1")
        d = r.wait_values({"ok": 7, "ok2": 199})
        d = r.wait_errors({"beyond": 2})
        self.assertEqual(d["errors"]["beyond"], {"code": 2, "error": "illegal data address"})
        self.assertEqual({k: d["values"][k] for k in ("ok", "ok2")}, {"ok": 7, "ok2": 199})

    def test_device_stops_answering_then_comes_back(self):
        srv = self.peer(PymodbusRtuServer(baud=9600))
        b = self.start_node(rtu_device(srv, [group("g", [tag("a", holding(5)), tag("b", coil(5), "bool")])],
                                       timeout_ms=300))
        r = self.readings(b, "rtu1")
        r.wait_values({"a": 5, "b": True})
        st = self.status(b, "rtu1")
        st.wait_state("connected")
        srv.stop_server()  # the pty stays open; nothing answers on it
        silent = st.wait_state("reconnecting", timeout=30)
        self.assertTrue(silent.get("error", "").startswith("timeout: no reply from unit 1"), silent)
        d = r.wait_errors({"a": 1000, "b": 1000}, timeout=30)
        self.assertEqual(d["errors"]["a"]["code"], 1000)
        self.assertTrue(d["errors"]["a"]["error"].startswith("timeout: "), d["errors"]["a"])
        self.assertTrue(b.alive())
        srv.restart_server()
        r.wait_values({"a": 5, "b": True}, timeout=30)
        st.wait_state("connected", timeout=30)


@h.ironbridge_only("Modbus RTU over TCP")
class ModbusRtuOverTcpTest(ModbusCase):

    def test_read_and_write(self):
        srv = self.peer(PymodbusTcpServer(framer="rtu", hr=PRELOAD))
        b = self.start_node(device("gw", [group("g", READ_TAGS + [
            tag("w", holding(50), "int16", access="rw")], interval_ms=200)],
            driver="modbus-rtu-over-tcp", port=srv.port))
        r = self.readings(b, "gw")
        r.wait_values(READ_EXPECT)
        res = self.writer(b, "gw").write("w", -2)
        self.assertIs(res["ok"], True, res)
        c = mp.modbus_client(srv.port, framer="rtu")
        self.addCleanup(c.close)
        self.assertEqual(mp.read_holding(c, 50, 1), [0xFFFE])
        r.wait_values({"w": -2})


@h.ironbridge_only("the ironbridge configuration")
class ModbusRtuConfigTest(ModbusCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ibrtucfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def check(self, dev):
        text = 'data_dir = "%s"\n[api]\nenabled = false\n' % os.path.join(self.dir, "data")
        text += mp.devices_toml(dev)
        path = os.path.join(self.dir, "rtu.toml")
        with open(path, "w") as f:
            f.write(text)
        r = self.run_proc([h.ironbridge_bin(), "check-config", path], timeout=15)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace"), text.splitlines()

    def test_serial_settings(self):
        groups = [group("g", [tag("t", "1!400001")])]
        good = dict(serial_port="/dev/ttyUSB0", baud=9600, parity="none", data_bits=8, stop_bits=1)
        rc, out, _ = self.check(device("r", groups, driver="modbus-rtu", **good))
        self.assertEqual(rc, 0, out)
        for parity in ("even", "odd"):
            rc, out, _ = self.check(device("r", groups, driver="modbus-rtu", **dict(good, parity=parity)))
            self.assertEqual(rc, 0, out)
        for key, value in (("parity", "mark"), ("data_bits", 9), ("stop_bits", 3), ("baud", 0)):
            with self.subTest(key=key, value=value):
                bad = dict(good, **{key: value})
                rc, out, lines = self.check(device("r", groups, driver="modbus-rtu", **bad))
                self.assertEqual(rc, 2, out)
                line = next(i for i, l in enumerate(lines, 1) if l.startswith(key + " ="))
                self.assertRegex(out, r"rtu\.toml:%d\b" % line)
                self.assertRegex(out, r"devices\S*" + key)
        no_port = dict(good)
        del no_port["serial_port"]
        rc, out, _ = self.check(device("r", groups, driver="modbus-rtu", **no_port))
        self.assertEqual(rc, 2, out)
        self.assertIn("serial_port", out)


if __name__ == "__main__":
    unittest.main()
