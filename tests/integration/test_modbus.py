"""Modbus TCP collection, end to end: Ironbridge polls a real Modbus server
(libmodbus's ib_modbus_peer, or pymodbus) and the test checks what a user sees
on Ironbridge's own MQTT port and REST API: readings on ib/data/{device}/{group},
state on ib/status/{device}, write results on ib/write/{device}/result; what
Ironbridge wrote is read back from the peer with a pymodbus client.

Needs IRONBRIDGE_BIN and the ib_modbus_peer target (next to it under tests/, or
IB_MODBUS_PEER). Every wait is bounded; no assertion is on timing.
"""

import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import unittest

import ibharness as h
import modbus_peers as mp
from modbus_peers import (Approx, LibmodbusServer, ModbusCase, PymodbusTcpServer, coil, device,
                          discrete, encode_registers, group, holding, input_reg, tag)

F32 = 1e-6   # relative tolerance for float32 values
F64 = 1e-12


def f32(x):
    """x rounded to float32, as the device holds it."""
    return struct.unpack(">f", struct.pack(">f", x))[0]


# (name, type, wire address of the first register, address suffix, value).
# Every 32/64-bit value has four distinct bytes per word so that each byte
# order gives different registers.
TYPED = [
    ("i16_B", "int16", 0, "#B", -12345),
    ("i16_L", "int16", 1, "#L", -12345),
    ("u16", "uint16", 2, "", 54321),
    ("u16_L", "uint16", 3, "#L", 54321),
    ("i32_BB", "int32", 10, "#BB", -123456789),
    ("i32_BL", "int32", 12, "#BL", -123456789),
    ("i32_LB", "int32", 14, "#LB", -123456789),
    ("i32_LL", "int32", 16, "#LL", -123456789),
    ("u32_BB", "uint32", 20, "#BB", 4000000001),
    ("u32_BL", "uint32", 22, "#BL", 4000000001),
    ("u32_LB", "uint32", 24, "#LB", 4000000001),
    ("u32_LL", "uint32", 26, "#LL", 4000000001),
    ("f32_BB", "float32", 30, "#BB", f32(-1234.5678)),
    ("f32_BL", "float32", 32, "#BL", f32(-1234.5678)),
    ("f32_LB", "float32", 34, "#LB", f32(-1234.5678)),
    ("f32_LL", "float32", 36, "#LL", f32(-1234.5678)),
    ("i64_BB", "int64", 40, "#BB", -1234567890123456789),
    ("i64_BL", "int64", 44, "#BL", -1234567890123456789),
    ("i64_LB", "int64", 48, "#LB", -1234567890123456789),
    ("i64_LL", "int64", 52, "#LL", -1234567890123456789),
    # Above INT64_MAX: must arrive as an exact JSON integer.
    ("u64_BB", "uint64", 60, "#BB", 0xF1E2D3C4B5A69788),
    ("u64_BL", "uint64", 64, "#BL", 0xF1E2D3C4B5A69788),
    ("u64_LB", "uint64", 68, "#LB", 0xF1E2D3C4B5A69788),
    ("u64_LL", "uint64", 72, "#LL", 0xF1E2D3C4B5A69788),
    ("f64_BB", "float64", 80, "#BB", 123456.78901234567),
    ("f64_BL", "float64", 84, "#BL", 123456.78901234567),
    ("f64_LB", "float64", 88, "#LB", 123456.78901234567),
    ("f64_LL", "float64", 92, "#LL", 123456.78901234567),
]


def _order(suffix):
    return suffix[1:] if suffix else "BB"


def typed_preload(cases=TYPED):
    """{wire address: register} holding every value of `cases`."""
    out = {}
    for _, t, wire, suffix, v in cases:
        for i, r in enumerate(encode_registers(v, t, _order(suffix))):
            out[wire + i] = r
    return out


def expected_of(t, v):
    if t == "float32":
        return Approx(v, F32)
    if t == "float64":
        return Approx(v, F64)
    return v


def typed_tags(cases=TYPED, access=None):
    extra = {"access": access} if access else {}
    return [tag(n, holding(wire, suffix=suffix), t, **extra) for n, t, wire, suffix, _ in cases]


def check_values(case, reading, expected):
    """One subTest per tag: its value in `reading` is `expected`."""
    values, errors = reading.get("values") or {}, reading.get("errors") or {}
    for n, e in expected.items():
        with case.subTest(tag=n):
            case.assertNotIn(n, errors, "tag %s failed: %r" % (n, errors.get(n)))
            case.assertIn(n, values)
            case.assertTrue(mp.same_value(values[n], e), "%s: got %r, expected %r" % (n, values[n], e))


def complete_reading(readings, names, timeout=15.0):
    """The next reading in which every tag of `names` has a value or an error."""
    names = set(names)
    return readings.next(
        lambda d: names <= set(d.get("values") or {}) | set(d.get("errors") or {}), timeout,
        "reading covering %s" % sorted(names))


class RegisterLayoutHelperTest(unittest.TestCase):
    """The test's own register layouts against the literal examples of the
    specification (runs without Ironbridge)."""

    def test_spec_examples(self):
        v = 0x0A0B0C0D  # bytes A B C D
        self.assertEqual(encode_registers(v, "uint32", "BB"), [0x0A0B, 0x0C0D])  # ABCD
        self.assertEqual(encode_registers(v, "uint32", "BL"), [0x0B0A, 0x0D0C])  # BADC
        self.assertEqual(encode_registers(v, "uint32", "LB"), [0x0C0D, 0x0A0B])  # CDAB
        self.assertEqual(encode_registers(v, "uint32", "LL"), [0x0D0C, 0x0B0A])  # DCBA
        w = 0x0102030405060708
        self.assertEqual(encode_registers(w, "uint64", "LB"), [0x0708, 0x0506, 0x0304, 0x0102])
        self.assertEqual(encode_registers(w, "uint64", "BL"), [0x0201, 0x0403, 0x0605, 0x0807])
        self.assertEqual(encode_registers(0x1234, "uint16", "L"), [0x3412])
        self.assertEqual(encode_registers(0x1234, "uint16", "BL"), [0x3412])  # 16-bit: second letter
        self.assertEqual(encode_registers(21.5, "float32", "BB"), [0x41AC, 0x0000])
        self.assertEqual(encode_registers(-10, "int8"), [0xF6])
        self.assertEqual(encode_registers("abc", "string", length=2), [0x6162, 0x6300])
        self.assertEqual(encode_registers("abc", "string", length=2, low_byte_first=True), [0x6261, 0x0063])
        self.assertEqual(encode_registers([1, 2, 254], "bytes", length=2), [0x0102, 0xFE00])


# --------------------------------------------------------------------------- reads

@h.ironbridge_only("Modbus collection")
class ModbusReadTest(ModbusCase):

    def test_every_numeric_type_and_byte_order(self):
        peer = self.peer(LibmodbusServer(set=typed_preload()))
        b = self.start_node(device("plc1", [group("fast", typed_tags())], port=peer.port))
        r = self.readings(b, "plc1", "fast")
        d = complete_reading(r, [c[0] for c in TYPED])
        self.assertEqual((d.get("device"), d.get("group")), ("plc1", "fast"))
        self.assertIsInstance(d.get("ts"), int)
        self.assertGreater(d["ts"], 1_600_000_000_000, "ts is Unix milliseconds")
        check_values(self, d, {n: expected_of(t, v) for n, t, _, _, v in TYPED})

    def test_same_types_from_pymodbus(self):
        cases = [c for c in TYPED if c[0] in ("i16_L", "i32_LB", "u32_BL", "f32_LL", "i64_BB",
                                              "u64_LB", "f64_BL")]
        peer = self.peer(PymodbusTcpServer(hr=typed_preload(cases)))
        b = self.start_node(device("plc1", [group("fast", typed_tags(cases))], port=peer.port))
        d = complete_reading(self.readings(b, "plc1"), [c[0] for c in cases])
        check_values(self, d, {n: expected_of(t, v) for n, t, _, _, v in cases})

    def test_8bit_types_use_the_low_byte(self):
        peer = self.peer(LibmodbusServer(set={4: 0x12F6, 5: 0x34F6}))
        b = self.start_node(device("plc1", [group("g", [
            tag("i8", holding(4), "int8"), tag("u8", holding(5), "uint8")])], port=peer.port))
        d = complete_reading(self.readings(b, "plc1"), ["i8", "u8"])
        check_values(self, d, {"i8": -10, "u8": 246})

    def test_coils_discrete_inputs_and_input_registers(self):
        # ib_modbus_peer: coil[i] = i % 2, discrete[i] = (i % 3 == 0), input[i] = 1000 + i.
        peer = self.peer(LibmodbusServer())
        b = self.start_node(device("plc1", [group("io", [
            tag("c0", coil(0), "bool"), tag("c1", coil(1), "bool"), tag("c7", coil(7), "bool"),
            tag("d0", discrete(0), "bool"), tag("d1", discrete(1), "bool"), tag("d3", discrete(3), "bool"),
            tag("ir0", input_reg(0)), tag("ir9", input_reg(9), "int16"),
            tag("ir20", input_reg(20, suffix="#BB"), "uint32"),
        ])], port=peer.port))
        d = complete_reading(self.readings(b, "plc1"), ["c0", "d0", "ir0", "ir20"])
        check_values(self, d, {"c0": False, "c1": True, "c7": True, "d0": True, "d1": False, "d3": True,
                               "ir0": 1000, "ir9": 1009, "ir20": (1020 << 16) | 1021})

    def test_bits_of_a_register(self):
        peer = self.peer(LibmodbusServer(set={120: 0x8008}))
        b = self.start_node(device("plc1", [group("bits", [
            tag("b0", holding(120, suffix=".0"), "bool"), tag("b3", holding(120, suffix=".3"), "bool"),
            tag("b4", holding(120, suffix=".4"), "bool"), tag("b15", holding(120, suffix=".15"), "bool"),
            tag("ib10", input_reg(10, suffix=".1"), "bool"),  # input[10] = 1010 = 0b1111110010
        ])], port=peer.port))
        d = complete_reading(self.readings(b, "plc1"), ["b0", "b3", "b4", "b15", "ib10"])
        check_values(self, d, {"b0": False, "b3": True, "b4": False, "b15": True, "ib10": True})

    def test_strings_and_bytes_both_byte_orders(self):
        pre = {}
        for wire, value, dtype, length, low in ((100, "Hello!", "string", 4, False),
                                                (104, "Hello!", "string", 4, True),
                                                (108, "abc", "string", 2, False),
                                                (110, [1, 2, 254, 128], "bytes", 2, False),
                                                (112, [1, 2, 254, 128], "bytes", 2, True)):
            for i, r in enumerate(encode_registers(value, dtype, length=length, low_byte_first=low)):
                pre[wire + i] = r
        peer = self.peer(LibmodbusServer(set=pre))
        b = self.start_node(device("plc1", [group("text", [
            tag("s_h", holding(100, suffix=".4H"), "string"),
            tag("s_l", holding(104, suffix=".4L"), "string"),
            tag("s_default", holding(108, suffix=".2"), "string"),  # H is the default
            tag("by_h", holding(110, suffix=".2H"), "bytes"),
            tag("by_l", holding(112, suffix=".2L"), "bytes"),
        ])], port=peer.port))
        d = complete_reading(self.readings(b, "plc1"), ["s_h", "s_l", "s_default", "by_h", "by_l"])
        # Strings drop their trailing NULs; bytes are every byte, as numbers.
        check_values(self, d, {"s_h": "Hello!", "s_l": "Hello!", "s_default": "abc",
                               "by_h": [1, 2, 254, 128], "by_l": [1, 2, 254, 128]})

    def test_scale_and_offset(self):
        pre = {130: 100, 131: 0xFFEC}  # 100; -20 as int16
        pre.update({132 + i: r for i, r in enumerate(encode_registers(21.5, "float32", "BB"))})
        peer = self.peer(LibmodbusServer(set=pre))
        b = self.start_node(device("plc1", [group("scaled", [
            tag("s_u16", holding(130), "uint16", scale=0.5, offset=10, unit="degC"),
            tag("s_i16", holding(131), "int16", scale=0.25),
            tag("s_f32", holding(132, suffix="#BB"), "float32", scale=2, offset=1),
            tag("s_off", holding(130), "uint16", offset=-0.5),
        ])], port=peer.port))
        d = complete_reading(self.readings(b, "plc1"), ["s_u16", "s_i16", "s_f32", "s_off"])
        # value = raw * scale + offset, reported as a float (a whole one may be written 60 or 60.0).
        check_values(self, d, {"s_u16": 60.0, "s_i16": -5.0, "s_f32": 44.0, "s_off": 99.5})

    def test_device_byte_order_is_the_default_for_tags_without_one(self):
        cases = [("i32", "int32", 10, "", -123456789), ("f32", "float32", 12, "", f32(3.14159)),
                 ("u16", "uint16", 14, "", 0x1234)]
        pre = {}
        for n, t, wire, _, v in cases:
            for i, r in enumerate(encode_registers(v, t, "LL")):  # LL: 16-bit tags use L
                pre[wire + i] = r
        pre.update({16 + i: r for i, r in enumerate(encode_registers(-123456789, "int32", "BB"))})
        peer = self.peer(LibmodbusServer(set=pre))
        tags = typed_tags(cases) + [tag("i32_own", holding(16, suffix="#BB"), "int32")]
        b = self.start_node(device("plc1", [group("g", tags)], port=peer.port, byte_order="LL"))
        d = complete_reading(self.readings(b, "plc1"), ["i32", "f32", "u16", "i32_own"])
        check_values(self, d, {"i32": -123456789, "f32": Approx(f32(3.14159), F32), "u16": 0x1234,
                               "i32_own": -123456789})

    def test_address_base_zero(self):
        peer = self.peer(LibmodbusServer(set={0: 4242, 5: 5555}))
        b = self.start_node(device("plc1", [group("g", [
            tag("first", "1!400000"), tag("sixth", "1!400005"), tag("coil1", "1!000001", "bool"),
        ])], port=peer.port, address_base=0))
        d = complete_reading(self.readings(b, "plc1"), ["first", "sixth", "coil1"])
        # base 0: 400000 is wire address 0; coil 000001 is wire 1 (= 1 % 2).
        check_values(self, d, {"first": 4242, "sixth": 5555, "coil1": True})

    def test_illegal_address_among_good_tags(self):
        peer = self.peer(LibmodbusServer(illegal=[(10, 12)], set={0: 7, 20: 9}))
        b = self.start_node(device("plc1", [group("g", [
            tag("good1", holding(0)), tag("bad", holding(11)), tag("good2", holding(20)),
            tag("bad_coil", coil(12), "bool"), tag("good_coil", coil(13), "bool"),
        ])], port=peer.port))
        r = self.readings(b, "plc1")
        # Coalesced reads that include the bad address fail as a whole; the good
        # tags must still get their values, in every reading once settled.
        r.wait_values({"good1": 7, "good2": 9, "good_coil": True})
        for _ in range(3):
            d = complete_reading(r, ["good1", "bad", "good2", "bad_coil", "good_coil"])
            check_values(self, d, {"good1": 7, "good2": 9, "good_coil": True})
            for n in ("bad", "bad_coil"):
                with self.subTest(tag=n):
                    self.assertNotIn(n, d.get("values") or {})
                    self.assertEqual(d["errors"][n], {"code": 2, "error": "illegal data address"})

    def test_write_only_tag_is_not_polled(self):
        peer = self.peer(LibmodbusServer())
        b = self.start_node(device("plc1", [group("g", [
            tag("read_me", holding(1)), tag("write_me", holding(2), access="write")])], port=peer.port))
        r = self.readings(b, "plc1")
        for _ in range(3):
            d = r.wait_values({"read_me": 1})
            self.assertNotIn("write_me", d.get("values") or {})
            self.assertNotIn("write_me", d.get("errors") or {})

    def test_on_change_with_deadband(self):
        peer = self.peer(PymodbusTcpServer(hr={50: 0, 51: 0}))
        b = self.start_node(device("plc1", [group("g", [
            tag("always", holding(51)),
            tag("moving", holding(50), on_change=True, deadband=5),
        ])], port=peer.port))
        r = self.readings(b, "plc1")
        r.wait_values({"always": 0})
        c = peer.client()
        self.addCleanup(c.close)
        c.write_register(50, 100, slave=1)
        r.wait_values({"moving": 100})
        c.write_register(50, 103, slave=1)   # moves by 3: within the deadband
        c.write_register(51, 1, slave=1)     # marks the polls that saw 103
        d = r.wait_values({"always": 1})
        self.assertNotIn("moving", d.get("values") or {})
        for _ in range(5):
            d = r.next(timeout=10)
            self.assertNotIn("moving", d.get("values") or {}, "a move within the deadband was reported")
        c.write_register(50, 110, slave=1)   # 10 away from the last reported 100
        r.wait_values({"moving": 110})

    def test_values_through_rest_api(self):
        peer = self.peer(LibmodbusServer(illegal=[(11, 11)]))
        b = self.start_node(device("plc1", [
            group("fast", [tag("a", holding(3)), tag("bad", holding(11))]),
            group("slow", [tag("c", coil(1), "bool")], interval_ms=200)], port=peer.port))
        r = self.readings(b, "plc1")
        r.wait_values({"a": 3})
        r.wait_values({"c": True})
        status, body = mp.http_json(b, "GET", "/api/v1/devices/plc1/values")
        self.assertEqual(status, 200, body)
        self.assertEqual(body.get("device"), "plc1")
        self.assertEqual(set(body["groups"]), {"fast", "slow"})
        self.assertIsInstance(body["groups"]["fast"]["ts"], int)
        self.assertEqual(body["groups"]["fast"]["values"], {"a": 3})
        self.assertEqual(body["groups"]["fast"]["errors"]["bad"]["code"], 2)
        self.assertEqual(body["groups"]["slow"]["values"], {"c": True})
        status, _ = mp.http_json(b, "GET", "/api/v1/devices/nope/values")
        self.assertEqual(status, 404)


# --------------------------------------------------------------------------- writes

WRITE_CASES = [
    ("w_i16_B", "int16", 0, "#B", -1234),
    ("w_i16_L", "int16", 1, "#L", -1234),
    ("w_u16", "uint16", 2, "", 65000),
    ("w_u16_L", "uint16", 3, "#L", 0xABCD),
    ("w_i32_BB", "int32", 10, "#BB", -987654321),
    ("w_i32_BL", "int32", 12, "#BL", -987654321),
    ("w_i32_LB", "int32", 14, "#LB", -987654321),
    ("w_i32_LL", "int32", 16, "#LL", -987654321),
    ("w_u32_BB", "uint32", 20, "#BB", 0xDEADBEEF),
    ("w_u32_LB", "uint32", 24, "#LB", 0xDEADBEEF),
    ("w_f32_BB", "float32", 30, "#BB", 42.5),
    ("w_f32_BL", "float32", 32, "#BL", f32(-0.015625 * 3.3)),
    ("w_f32_LB", "float32", 34, "#LB", 1e10),
    ("w_f32_LL", "float32", 36, "#LL", f32(-7.125e-3)),
    ("w_i64_BB", "int64", 40, "#BB", -(2 ** 62) - 12345),
    ("w_i64_LL", "int64", 52, "#LL", 1234567890123),
    ("w_u64_BL", "uint64", 64, "#BL", 2 ** 64 - 3),
    ("w_u64_LB", "uint64", 68, "#LB", 0x0102030405060708),
    ("w_f64_BB", "float64", 80, "#BB", -2.5e-300),
    ("w_f64_LB", "float64", 88, "#LB", 6.02214076e23),
    ("w_i8", "int8", 96, "", -10),
    ("w_u8", "uint8", 97, "", 200),
]


@h.ironbridge_only("Modbus writes")
class ModbusWriteTest(ModbusCase):

    def setUp(self):
        # pymodbus starts with holding[i] = i: every value below differs from it.
        # The text registers start as NULs (empty strings).
        pre = {w: 0 for w in range(140, 150)}
        pre.update({120: 0x8008, 130: 0})
        self.peer_ = self.peer(PymodbusTcpServer(hr=pre))
        self.tags = typed_tags(WRITE_CASES, access="rw") + [
            tag("b0", holding(120, suffix=".0"), "bool", access="rw"),
            tag("b15", holding(120, suffix=".15"), "bool", access="rw"),
            tag("coil3", coil(3), "bool", access="rw"),
            tag("coil4", coil(4), "bool", access="write"),
            tag("s_h", holding(140, suffix=".3H"), "string", access="rw"),
            tag("s_l", holding(143, suffix=".3L"), "string", access="rw"),
            tag("by_h", holding(146, suffix=".2H"), "bytes", access="rw"),
            tag("by_l", holding(148, suffix=".2L"), "bytes", access="rw"),
            tag("scaled", holding(130), "uint16", access="rw", scale=0.5, offset=10),
            tag("ro", holding(150)),                          # access "read" by default
            tag("beyond", holding(5000), access="write"),      # pymodbus has 1000 registers
            tag("long", holding(600, suffix=".124"), "string", access="write"),  # readable, too long to write
        ]
        self.node = self.start_node(device("plc1", [group("g", self.tags, interval_ms=200)],
                                           port=self.peer_.port))
        self.status(self.node, "plc1").wait_state("connected")
        self.w = self.writer(self.node, "plc1")
        self.c = self.peer_.client()
        self.addCleanup(self.c.close)

    def regs(self, wire, n):
        return mp.read_holding(self.c, wire, n)

    def assert_ok(self, result, *names):
        self.assertIs(result.get("ok"), True, result)
        for n in names:
            self.assertEqual(result["results"][n], {"ok": True}, result)

    def assert_failed(self, result, name, code):
        self.assertIs(result.get("ok"), False, result)
        self.assertIs(result["results"][name]["ok"], False, result)
        self.assertEqual(result["results"][name]["code"], code, result)
        self.assertIsInstance(result["results"][name].get("error"), str)

    def test_string_longer_than_one_write_is_refused_not_fatal(self):
        # Modbus §6.12 writes at most 123 registers in one request.
        self.assert_failed(self.w.write("long", "x"), "long", 1005)
        self.assert_ok(self.w.write("s_h", "ok"), "s_h")

    def test_every_type_and_byte_order(self):
        for n, t, wire, suffix, v in WRITE_CASES:
            with self.subTest(tag=n):
                res = self.w.send({"id": "r-" + n, "tag": n, "value": v})
                self.assertEqual(res["id"], "r-" + n)
                self.assert_ok(res, n)
                want = encode_registers(v, t, _order(suffix))
                got = self.regs(wire, len(want))
                if t in ("int8", "uint8"):  # only the low byte is the value
                    got, want = [got[0] & 0xFF], [want[0] & 0xFF]
                self.assertEqual([hex(x) for x in got], [hex(x) for x in want])

    def test_written_value_is_read_back_by_the_poll(self):
        self.assert_ok(self.w.write("w_f32_LB", 1e10), "w_f32_LB")
        self.assert_ok(self.w.write("w_u64_BL", 2 ** 64 - 3), "w_u64_BL")
        self.readings(self.node, "plc1").wait_values(
            {"w_f32_LB": Approx(1e10, F32), "w_u64_BL": 2 ** 64 - 3})

    def test_bit_of_a_register_keeps_the_other_bits(self):
        self.assert_ok(self.w.write("b0", True), "b0")
        self.assertEqual(hex(self.regs(120, 1)[0]), hex(0x8009))
        self.assert_ok(self.w.write("b15", False), "b15")
        self.assertEqual(hex(self.regs(120, 1)[0]), hex(0x0009))
        self.assert_ok(self.w.write("b0", False), "b0")
        self.assertEqual(hex(self.regs(120, 1)[0]), hex(0x0008))

    def test_coils(self):
        # pymodbus starts with coil[i] = i % 2: coil 3 on, coil 4 off.
        self.assert_ok(self.w.write("coil3", False), "coil3")
        self.assertEqual(mp.read_coils(self.c, 3, 1), [False])
        self.assert_ok(self.w.write("coil4", True), "coil4")  # a write-only coil
        self.assertEqual(mp.read_coils(self.c, 4, 1), [True])
        self.assert_ok(self.w.write("coil3", True), "coil3")
        self.assertEqual(mp.read_coils(self.c, 3, 1), [True])

    def test_strings_and_bytes(self):
        self.assert_ok(self.w.write("s_h", "Hi!"), "s_h")
        self.assertEqual(self.regs(140, 3), encode_registers("Hi!", "string", length=3))
        self.assert_ok(self.w.write("s_l", "Hi!"), "s_l")
        self.assertEqual(self.regs(143, 3), encode_registers("Hi!", "string", length=3, low_byte_first=True))
        # A shorter string is padded with NULs over the whole length.
        self.assert_ok(self.w.write("s_h", "x"), "s_h")
        self.assertEqual(self.regs(140, 3), [0x7800, 0, 0])
        self.assert_ok(self.w.write("by_h", [9, 8, 7, 6]), "by_h")
        self.assertEqual(self.regs(146, 2), [0x0908, 0x0706])
        self.assert_ok(self.w.write("by_l", [9, 8, 7, 6]), "by_l")
        self.assertEqual(self.regs(148, 2), [0x0809, 0x0607])
        self.readings(self.node, "plc1").wait_values({"s_h": "x", "s_l": "Hi!", "by_h": [9, 8, 7, 6]})

    def test_scaled_tag_writes_the_raw_value(self):
        # raw = (value - offset) / scale = (75 - 10) / 0.5
        self.assert_ok(self.w.write("scaled", 75.0), "scaled")
        self.assertEqual(self.regs(130, 1), [130])

    def test_several_values_in_one_request(self):
        res = self.w.send({"id": "r-18", "values": {"w_u16": 1, "coil3": False, "w_f32_BB": 2.25}})
        self.assertEqual(res["id"], "r-18")
        self.assert_ok(res, "w_u16", "coil3", "w_f32_BB")
        self.assertEqual(self.regs(2, 1), [1])
        self.assertEqual(mp.read_coils(self.c, 3, 1), [False])
        self.assertEqual(self.regs(30, 2), encode_registers(2.25, "float32", "BB"))

    def test_refused_writes(self):
        before = self.regs(0, 4) + self.regs(96, 2) + self.regs(140, 3) + self.regs(150, 1)
        for name, value, code in (
                ("ro", 5, 1004),                 # access "read"
                ("no_such_tag", 1, 1006),
                ("w_u16", 70000, 1005),          # does not fit uint16
                ("w_u16", -1, 1005),
                ("w_i16_B", "abc", 1005),        # not a number
                ("w_i16_B", 40000, 1005),        # does not fit int16
                ("w_u8", 300, 1005),
                ("s_h", "abcdefg", 1005),        # 7 bytes do not fit 3 registers
                ("by_h", [1, 256, 3, 4], 1005)):  # not a byte
            with self.subTest(tag=name, value=value):
                self.assert_failed(self.w.write(name, value), name, code)
        self.assertEqual(self.regs(0, 4) + self.regs(96, 2) + self.regs(140, 3) + self.regs(150, 1),
                         before, "a refused write changed the device")

    def test_mixed_request_reports_each_tag(self):
        res = self.w.send({"id": "mix", "values": {"w_u16": 7, "no_such_tag": 1, "ro": 3}})
        self.assertIs(res["ok"], False, res)
        self.assertEqual(res["results"]["w_u16"], {"ok": True})
        self.assertEqual(res["results"]["no_such_tag"]["code"], 1006)
        self.assertEqual(res["results"]["ro"]["code"], 1004)
        self.assertEqual(self.regs(2, 1), [7])

    def test_exception_from_the_device(self):
        res = self.w.write("beyond", 1)
        self.assert_failed(res, "beyond", 2)
        self.assertEqual(res["results"]["beyond"]["error"], "illegal data address")

    def test_malformed_request_does_not_stop_the_device(self):
        # Not JSON, no id, no tag: nothing to write. Whatever the answer, the
        # device keeps working and the next good request is answered.
        for payload in (b"not json", b"{}", b'{"id":"x"}', b'{"id":"y","tag":5,"value":1}', b"[]"):
            self.w.client.publish("ib/write/plc1", payload, qos=1)
        self.assert_ok(self.w.write("w_u16", 11), "w_u16")
        self.assertEqual(self.regs(2, 1), [11])
        self.assertTrue(self.node.alive())

    def test_write_through_rest_api(self):
        status, res = mp.http_json(self.node, "POST", "/api/v1/devices/plc1/write",
                                   {"id": "r-17", "tag": "w_f32_BB", "value": 42.5})
        self.assertEqual(status, 200, res)
        self.assertEqual(res, {"id": "r-17", "ok": True, "results": {"w_f32_BB": {"ok": True}}})
        self.assertEqual(self.regs(30, 2), [0x422A, 0x0000])
        status, res = mp.http_json(self.node, "POST", "/api/v1/devices/plc1/write",
                                   {"id": "r-19", "values": {"w_u16": 3, "ro": 1}})
        self.assertEqual(status, 200, res)
        self.assertIs(res["ok"], False)
        self.assertEqual(res["results"]["w_u16"], {"ok": True})
        self.assertEqual(res["results"]["ro"]["code"], 1004)
        self.assertEqual(self.regs(2, 1), [3])


# --------------------------------------------------------------------------- failures

def _tags3():
    return [tag("t0", holding(0)), tag("t1", holding(1)), tag("t2", holding(2))]


EXPECT3 = {"t0": 0, "t1": 1, "t2": 2}


def all3(codes):
    """Every tag of _tags3() failed with one of `codes`."""
    return {n: codes for n in EXPECT3}


@h.ironbridge_only("Modbus collection")
class ModbusFailureTest(ModbusCase):

    def node(self, port, **dev):
        return self.start_node(device("plc1", [group("g", _tags3())], port=port,
                                      **dict({"timeout_ms": 300}, **dev)))

    def test_silent_server_times_out_then_recovers(self):
        peer = self.peer(LibmodbusServer(silent_after=30))
        b = self.node(peer.port)
        r, s = self.readings(b, "plc1"), self.status(b, "plc1")
        r.wait_values(EXPECT3)
        s.wait_state("connected")
        d = r.wait_errors(all3(1000), timeout=30)
        self.assertEqual(d["errors"]["t0"]["code"], 1000)
        self.assertTrue(d["errors"]["t0"]["error"].startswith("timeout: no reply from unit 1"), d["errors"]["t0"])
        st = s.wait_state("reconnecting", timeout=30)
        self.assertTrue(st.get("error"), "a reconnecting status says why: %r" % st)
        self.assertTrue(b.alive())
        peer.restart(silent_after=None)
        r.wait_values(EXPECT3, timeout=30)
        s.wait_state("connected", timeout=30)

    def test_server_restart(self):
        peer = self.peer(LibmodbusServer())
        b = self.node(peer.port)
        r, s = self.readings(b, "plc1"), self.status(b, "plc1")
        r.wait_values(EXPECT3)
        s.wait_state("connected")
        peer.stop()
        st = s.wait_state("reconnecting", timeout=30)
        self.assertTrue(st.get("error"), st)
        # While the server is away no value is reported, stale or not; failed
        # tags say why (disconnected, or the timeout of the request in flight).
        time.sleep(0.3)
        r.drain()
        for d in r.collect(1.5):
            self.assertEqual(d.get("values") or {}, {}, d)
            for n, e in (d.get("errors") or {}).items():
                self.assertIn(e["code"], (1000, 1001), d)
        peer.start()
        r.wait_values(EXPECT3, timeout=30)
        s.wait_state("connected", timeout=30)

    def test_server_absent_at_start(self):
        port = h.free_port()
        b = self.node(port)
        r, s = self.readings(b, "plc1"), self.status(b, "plc1")
        st = s.wait_state("reconnecting", timeout=30)
        self.assertTrue(st.get("error"), st)
        d = r.wait_errors(all3(1001), timeout=30)
        self.assertEqual(d["errors"]["t1"]["code"], 1001)
        self.assertTrue(d["errors"]["t1"]["error"].startswith("disconnected: "), d["errors"]["t1"])
        self.peer(LibmodbusServer(port=port))
        r.wait_values(EXPECT3, timeout=30)
        s.wait_state("connected", timeout=30)

    def test_garbage_replies(self):
        peer = self.peer(LibmodbusServer(garbage_after=20))
        b = self.node(peer.port)
        r = self.readings(b, "plc1")
        r.wait_values(EXPECT3)
        # Garbage is a bad reply (1002), or no usable reply before the timeout
        # (1000); tags read after the driver dropped the connection may say 1001.
        r.wait_errors(all3({1000, 1001, 1002}), timeout=30)
        r.next(lambda d: {e.get("code") for e in (d.get("errors") or {}).values()} & {1000, 1002},
               30, "reading with a bad reply or timeout error")
        r.collect(2.0)  # a few more rounds of garbage
        self.assertTrue(b.alive(), "ironbridge died on garbage")
        peer.restart(garbage_after=None)
        self.assertGreaterEqual(peer.stats().get("accepted", 0), 2,
                                "ironbridge never dropped the connection that sent garbage")
        r.wait_values(EXPECT3, timeout=30)
        self.assertTrue(b.alive())

    def test_dropped_connections(self):
        peer = self.peer(LibmodbusServer(drop_after=3))
        b = self.node(peer.port)
        r = self.readings(b, "plc1")
        for _ in range(10):
            r.wait_values(EXPECT3, timeout=30)
        peer.stop()
        self.assertGreaterEqual(peer.stats().get("accepted", 0), 3)
        self.assertTrue(b.alive())

    def test_late_replies_are_never_taken_for_other_requests(self):
        # Every reply comes 400 ms after its request, past the 250 ms timeout.
        # Whatever the driver does with a late reply, it must not report it as
        # the answer to a later request (group "b" reads other registers).
        peer = self.peer(LibmodbusServer(delay_ms=400, set={0: 111, 1: 222, 100: 333, 101: 444}))
        b = self.start_node(device("plc1", [
            group("a", [tag("a0", holding(0)), tag("a1", holding(1))]),
            group("b", [tag("b0", holding(100)), tag("b1", holding(101))])],
            port=peer.port, timeout_ms=250, retries=0))
        r = self.readings(b, "plc1")
        right = {"a0": 111, "a1": 222, "b0": 333, "b1": 444}
        r.wait_errors({"a0": 1000})
        for d in r.collect(4.0):
            for n, v in (d.get("values") or {}).items():
                self.assertEqual(v, right[n], "late reply reported as %s: %r" % (n, d))
        self.assertTrue(b.alive())

    def test_dead_unit_on_a_shared_gateway(self):
        # Units 1 and 2 behind one gateway; only unit 1 answers. Unit 2's tags
        # time out on their own: unit 1 keeps its values and the connection,
        # which serves unit 1 well, is kept.
        peer = self.peer(LibmodbusServer(units=[1]))
        b = self.start_node(device("gw", [
            group("u1", [tag("a", holding(3, unit=1)), tag("b", holding(4, unit=1))], interval_ms=200),
            group("u2", [tag("x", holding(3, unit=2)), tag("y", holding(4, unit=2))], interval_ms=200)],
            port=peer.port, timeout_ms=300))
        r1, r2 = self.readings(b, "gw", "u1"), self.readings(b, "gw", "u2")
        s = self.status(b, "gw")
        s.wait_state("connected")
        r1.wait_values({"a": 3, "b": 4})
        r2.wait_errors({"x": 1000, "y": 1000}, timeout=30)
        r1.drain()
        got = r1.collect(3.0)
        self.assertGreater(len(got), 0, "unit 1 stopped reporting")
        for d in got:
            self.assertEqual(d.get("errors") or {}, {}, d)
            self.assertEqual(d.get("values"), {"a": 3, "b": 4})
        for st in s.drain():
            self.assertEqual(st.get("state"), "connected", "a dead unit changed the device state: %r" % st)
        peer.stop()
        self.assertEqual(peer.stats().get("accepted"), 1, "the gateway connection was dropped")


# --------------------------------------------------------------------------- config

NODE_HEAD = """\
data_dir = "{data}"
[[broker.listeners]]
name = "default"
bind = "127.0.0.1"
port = {port}
[api]
enabled = false
"""


@h.ironbridge_only("the ironbridge configuration")
class ModbusConfigTest(ModbusCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ibmbcfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write_config(self, devices, name="ironbridge.toml"):
        text = NODE_HEAD.format(data=os.path.join(self.dir, "data"), port=h.free_port())
        text += mp.devices_toml(*devices)
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path, text.splitlines()

    @staticmethod
    def line_of(lines, needle, nth=1):
        seen = 0
        for i, l in enumerate(lines, 1):
            if needle in l:
                seen += 1
                if seen == nth:
                    return i
        raise AssertionError("%r not in the config" % needle)

    def check(self, path):
        r = self.run_proc([h.ironbridge_bin(), "check-config", path], timeout=15)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")

    def assert_refused(self, path, line, key_re, extra=()):
        rc, out = self.check(path)
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, re.escape(os.path.basename(path)) + r":%d\b" % line)
        self.assertRegex(out, key_re)
        for e in extra:
            self.assertIn(e, out)
        return out

    def test_refused_addresses(self):
        form = "UNIT!AREA ADDRESS"
        for address, dtype in (
                ("1!4x0001", "uint16"),      # not digits
                ("1!400001.3", "uint16"),    # .BIT on a non-bool
                ("1!400001", "string"),      # string without .LEN
                ("1!400001.0", "string"),    # .LEN 0
                ("1!400001#XY", "float32"),  # unknown order
                ("1!400001#BB", "int16"),    # a 32-bit order on a 16-bit type
                ("1!400001#B", "int8"),      # no order on 8-bit types
                ("1!000001", "uint16"),      # a coil holds a bool
                ("1!200001", "uint16"),      # no area 2
                ("300!400001", "uint16"),    # unit above 255
                ("1!465536#BB", "int32"),    # beyond the last register
                ("400001", "uint16"),        # no unit
                ("1!400001x", "uint16")):    # trailing text
            with self.subTest(address=address, type=dtype):
                path, lines = self.write_config([device("plc1", [group("g", [
                    tag("ok", "1!400100"), tag("bad", address, dtype)])], port=5020)],
                    name="addr.toml")
                line = self.line_of(lines, 'address = "%s"' % address)
                out = self.assert_refused(path, line, r"devices\S*tags\S*address", [form])
                self.assertIn(address, out)

    def test_refused_type_and_names(self):
        path, lines = self.write_config([device("plc1", [group("g", [tag("t", "1!400001", "float128")])],
                                                port=5020)])
        self.assert_refused(path, self.line_of(lines, 'type = "float128"'), r"devices\S*tags\S*type")
        path, lines = self.write_config([device("plc 1", [group("g", [tag("t", "1!400001")])], port=5020)])
        self.assert_refused(path, self.line_of(lines, 'name = "plc 1"'), r"devices\S*name")
        path, lines = self.write_config([
            device("plc1", [group("g", [tag("t", "1!400001")])], port=5020),
            device("plc1", [group("g", [tag("t", "1!400001")])], port=5021)])
        self.assert_refused(path, self.line_of(lines, 'name = "plc1"', nth=2), r"devices\S*name")
        path, lines = self.write_config([device("plc1", [group("g", [tag("t", "1!400001")])],
                                                port=5020, byte_order="XY")])
        self.assert_refused(path, self.line_of(lines, 'byte_order = "XY"'), r"devices\S*byte_order")
        path, lines = self.write_config([device("plc1", [group("g", [tag("t", "1!400001")])],
                                                driver="modbus-udp", port=5020)])
        self.assert_refused(path, self.line_of(lines, 'driver = "modbus-udp"'), r"devices\S*driver")

    def test_good_device_config_passes(self):
        path, _ = self.write_config([device("plc1", [group("g", typed_tags(access="rw") + [
            tag("c", coil(0), "bool", access="rw"), tag("s", holding(200, suffix=".4L"), "string"),
            tag("x", holding(210), "uint16", scale=0.1, offset=-40, unit="degC", on_change=True,
                deadband=0.5)])], port=5020, address_base=1, byte_order="LB", max_gap=8)])
        rc, out = self.check(path)
        self.assertEqual(rc, 0, out)

    def test_run_refuses_a_bad_address(self):
        path, lines = self.write_config([device("plc1", [group("g", [tag("bad", "1!4x0001")])], port=5020)])
        p = self.spawn([h.ironbridge_bin(), "run", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("`ironbridge run` kept running with a bad tag address")
        self.assertNotEqual(p.returncode, 0)
        out = out.decode("utf-8", "replace")
        self.assertRegex(out, r"ironbridge\.toml:%d\b" % self.line_of(lines, 'address = "1!4x0001"'))


if __name__ == "__main__":
    unittest.main()
