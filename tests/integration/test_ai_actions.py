"""Rules that call services (issue 16): the http action over HTTPS against a
Python stdlib server with a test CA (tls_certs.py), its answer published; the
grpc action against a @grpc/grpc-js server (tests/peers/grpc, installed by
scripts/install-deps.sh) with the service loaded from its .proto at run time."""

import http.server
import json
import os
import ssl
import subprocess
import threading
import time

import ibharness as h
from ibharness import LineReader
from modbus_peers import RuleApi, http_json
from tls_certs import Certs

GRPC_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "grpc")
PROTO = os.path.join(GRPC_PEER, "inspector.proto")


class HttpsService:
    """An HTTPS service on 127.0.0.1 that scores images: POST /score with
    {"ref","device","exposure"} answers {"ref","device","score","defect","model"};
    /slow answers the same after 3 s. Records each request as (path, X-Api-Key,
    the client certificate's CN, body)."""

    def __init__(self, testcase, cert, key, client_ca=None):
        self.requests = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                peer = self.connection.getpeercert() or {}
                cn = dict(x[0] for x in peer.get("subject", ())).get("commonName")
                service.requests.append((self.path, self.headers.get("X-Api-Key"), cn, body))
                if self.path == "/slow":
                    time.sleep(3)
                score = body["exposure"] / 2
                answer = json.dumps({"ref": body["ref"], "device": body["device"], "score": score,
                                     "defect": score > 0.5, "model": {"name": "v1"}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            # The handshake runs on the connection's thread, not the accepting one.
            def finish_request(self, request, client_address):
                try:
                    tls = context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                try:
                    super().finish_request(tls, client_address)
                finally:
                    tls.close()

            def handle_error(self, request, client_address):
                pass

        self.server = Server((h.HOST, 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        testcase.addCleanup(self.server.server_close)
        testcase.addCleanup(self.server.shutdown)


class RuleChecks(RuleApi, h.IBTestCase):

    def wait_for(self, pred, what, timeout=10.0):
        if not h.wait_until(pred, timeout=timeout):
            self.fail("no %s within %.0f s" % (what, timeout))

    def received(self, client, n, timeout=10.0):
        return [(m.topic, json.loads(m.payload)) for m in client.expect_messages(n, timeout=timeout)]


def image(ref, device, exposure, **extra):
    return json.dumps(dict({"ref": ref, "device": device, "exposure": exposure}, **extra))


@h.ironbridge_only("the rules' service actions")
class HttpsActionTest(RuleChecks):

    def setUp(self):
        self.certs = Certs(self)
        self.certs.ca("ca")
        self.certs.ca("other-ca")
        self.server_cert = self.certs.issue("server", "127.0.0.1", server=True)
        self.stranger_cert = self.certs.issue("stranger", "127.0.0.1", ca="other-ca", server=True)
        self.client_cert = self.certs.issue("client", "edge-1")

    def test_answers_of_an_https_service_are_published_in_order_per_device(self):
        service = HttpsService(self, *self.server_cert, client_ca=self.certs.path("ca.crt"))
        b = self.start_broker(extra_toml="""
[[rules]]
id = "score"
sql = "SELECT ref, device, exposure FROM \\"cam/+/image\\""
[[rules.actions]]
http = { url = "https://127.0.0.1:%d/score", ca_file = "%s", cert_file = "%s", key_file = "%s", headers = ["X-Api-Key: k-17"], key = "${device}", concurrency = 2, retries = 0, response_topic = "scores/${device}", response_template = '{"ref":"${ref}","score":${score},"model":${model}}' }
""" % (service.port, self.certs.path("ca.crt"), *self.client_cert))
        sub = self.paho(b, "scada")
        sub.connect()
        sub.subscribe("scores/#", qos=1)
        pub = self.paho(b, "camera")
        pub.connect()
        sent = [("cam1" if i % 2 else "cam2", "img-%d" % i, i / 10) for i in range(8)]
        for device, ref, exposure in sent:
            pub.publish("cam/%s/image" % device, image(ref, device, exposure), qos=1)
        got = self.received(sub, len(sent))
        for device in ("cam1", "cam2"):
            expected = [("scores/" + device, {"ref": ref, "score": exposure / 2, "model": {"name": "v1"}})
                        for d, ref, exposure in sent if d == device]
            self.assertEqual([g for g in got if g[0] == "scores/" + device], expected)
        self.assertEqual(sorted(r[3]["ref"] for r in service.requests), sorted(s[1] for s in sent))
        for path, api_key, cn, body in service.requests:
            self.assertEqual((path, api_key, cn), ("/score", "k-17", "edge-1"))
            self.assertEqual(set(body), {"ref", "device", "exposure"})
        self.wait_rule(b, "score", lambda r: r["actions"][0]["done"] == len(sent), "every call done")

    def test_an_untrusted_server_is_refused_and_a_slow_one_times_out_while_other_rules_flow(self):
        trusted = HttpsService(self, *self.server_cert)
        untrusted = HttpsService(self, *self.stranger_cert)
        b = self.start_broker(extra_toml="""
[[rules]]
id = "untrusted"
sql = "SELECT * FROM \\"cam/+/image\\""
[[rules.actions]]
http = { url = "https://127.0.0.1:%d/score", ca_file = "%s", retries = 0 }

[[rules]]
id = "slow"
sql = "SELECT * FROM \\"cam/+/image\\""
[[rules.actions]]
http = { url = "https://127.0.0.1:%d/slow", ca_file = "%s", retries = 0, timeout_ms = 300, response_topic = "scores/${device}" }

[[rules]]
id = "copy"
sql = "SELECT ref FROM \\"cam/+/image\\""
[[rules.actions]]
publish = { topic = "copy/${ref}" }
""" % (untrusted.port, self.certs.path("ca.crt"), trusted.port, self.certs.path("ca.crt")))
        sub = self.paho(b, "scada")
        sub.connect()
        sub.subscribe("copy/#", qos=1)
        sub.subscribe("scores/#", qos=1)
        pub = self.paho(b, "camera")
        pub.connect()
        for i in range(5):
            pub.publish("cam/cam1/image", image("img-%d" % i, "cam1", 0.5), qos=1)
        # The copies flow while the slow service holds its requests.
        self.assertEqual(self.received(sub, 5), [("copy/img-%d" % i, {"ref": "img-%d" % i}) for i in range(5)])
        r = self.wait_rule(b, "untrusted", lambda r: r["actions"][0]["errors"] == 5, "5 refused calls")
        self.assertIn("the server's certificate was refused", r["actions"][0]["last_error"])
        self.assertEqual(r["errors"]["action"], 5, r)
        self.assertEqual(untrusted.requests, [])
        r = self.wait_rule(b, "slow", lambda r: r["actions"][0]["errors"] == 5, "5 timed-out calls")
        self.assertIn("timeout", r["actions"][0]["last_error"])
        self.assertEqual(r["actions"][0]["done"], 0, r)
        sub.expect_no_message(0.2)  # no score published for a call that timed out


class GrpcPeer:
    """tests/peers/grpc/server.js on 127.0.0.1; `requests` reads what it received."""

    def __init__(self, testcase, tls=None):
        if not os.path.isdir(os.path.join(GRPC_PEER, "node_modules", "@grpc", "grpc-js")):
            raise RuntimeError("tests/peers/grpc/node_modules is missing: run scripts/install-deps.sh")
        cmd = ["node", os.path.join(GRPC_PEER, "server.js")] + (["--tls", *tls] if tls else [])
        p = testcase.spawn(cmd, stdout=subprocess.PIPE)
        self.out = LineReader(p.stdout)
        self.port = int(self.out.wait_for(lambda s: s.startswith("LISTENING"), timeout=15).split()[1])

    def requests(self):
        return [json.loads(s.split(" ", 1)[1]) for s in list(self.out.all) if s.startswith("REQUEST ")]


@h.ironbridge_only("the rules' service actions")
class GrpcActionTest(RuleChecks):

    def test_a_grpc_method_scores_rows_in_order_per_key_and_its_answers_are_published(self):
        certs = Certs(self)
        certs.ca("ca")
        peer = GrpcPeer(self)
        secure = GrpcPeer(self, tls=certs.issue("server", "127.0.0.1", server=True))
        b = self.start_broker(extra_toml="""
[[rules]]
id = "inspect"
sql = "SELECT ref, device, seq, exposure, delay_ms FROM \\"img/+\\""
[[rules.actions]]
grpc = { address = "127.0.0.1:%d", proto = "%s", service = "vision.Inspector", method = "Score", key = "${device}", concurrency = 4 }
[[rules.actions]]
publish = { topic = "verdicts/${device}" }

[[rules]]
id = "secure"
sql = "SELECT ref, device, exposure FROM \\"secure/+\\""
[[rules.actions]]
grpc = { address = "127.0.0.1:%d", proto = "%s", service = "vision.Inspector", method = "Score", tls = true, ca_file = "%s" }
[[rules.actions]]
publish = { topic = "secure-verdicts/${device}", payload = "${ref}:${score}" }
""" % (peer.port, PROTO, secure.port, PROTO, certs.path("ca.crt")))
        sub = self.paho(b, "scada")
        sub.connect()
        sub.subscribe("verdicts/#", qos=1)
        sub.subscribe("secure-verdicts/#", qos=1)
        pub = self.paho(b, "camera")
        pub.connect()
        # cam1's first image is answered after 1.5 s, its later ones at once: they
        # wait for it all the same. cam2's, sent after it, do not.
        rows = [("cam1", 1, 1.5, 1500), ("cam1", 2, 0.4, 0), ("cam1", 3, 0.2, 0), ("cam2", 1, 1.2, 0)]
        for device, seq, exposure, delay in rows:
            pub.publish("img/" + device, image("%s-%d" % (device, seq), device, exposure, seq=seq, delay_ms=delay), qos=1)
        got = self.received(sub, len(rows))
        self.assertEqual(got[0], ("verdicts/cam2", {"ref": "cam2-1", "device": "cam2", "seq": 1, "score": 0.6,
                                                    "defect": True, "labels": ["scratch"]}))
        self.assertEqual(got[1:], [("verdicts/cam1", {"ref": "cam1-%d" % seq, "device": "cam1", "seq": seq,
                                                      "score": exposure / 2, "defect": exposure / 2 > 0.5,
                                                      "labels": ["scratch"] if exposure / 2 > 0.5 else []})
                                   for _, seq, exposure, _ in rows[:3]])
        self.wait_for(lambda: len(peer.requests()) == len(rows), "request at the server")
        self.assertEqual(sorted((r["ref"], r["seq"], r["exposure"], r["delay_ms"]) for r in peer.requests()),
                         sorted(("%s-%d" % (d, s), s, e, delay) for d, s, e, delay in rows))
        pub.publish("secure/cam3", image("cam3-1", "cam3", 0.5), qos=1)
        self.assertEqual(sub.expect_message(10).payload, b"cam3-1:0.25")
        # The server's line about the request is read by another thread and may come after the answer.
        self.wait_for(lambda: secure.requests(), "the request's line from the TLS server")
        self.assertEqual(secure.requests()[0]["ref"], "cam3-1")
        self.assertEqual(self.rule(b, "inspect")["actions"][0]["done"], len(rows))

    def test_a_deadline_and_a_failing_method_are_counted_on_the_rule(self):
        peer = GrpcPeer(self)
        b = self.start_broker(extra_toml="""
[[rules]]
id = "slow"
sql = "SELECT * FROM \\"img/+\\""
[[rules.actions]]
grpc = { address = "127.0.0.1:%d", proto = "%s", service = "vision.Inspector", method = "Score", timeout_ms = 300 }
[[rules.actions]]
publish = { topic = "verdicts/${device}" }

[[rules]]
id = "failing"
sql = "SELECT * FROM \\"img/+\\""
[[rules.actions]]
grpc = { address = "127.0.0.1:%d", proto = "%s", service = "vision.Inspector", method = "Fail" }

[[rules]]
id = "copy"
sql = "SELECT ref FROM \\"img/+\\""
[[rules.actions]]
publish = { topic = "copy/${ref}" }
""" % (peer.port, PROTO, peer.port, PROTO))
        sub = self.paho(b, "scada")
        sub.connect()
        sub.subscribe("copy/#", qos=1)
        sub.subscribe("verdicts/#", qos=1)
        pub = self.paho(b, "camera")
        pub.connect()
        for i in range(3):
            pub.publish("img/cam1", image("img-%d" % i, "cam1", 0.5, delay_ms=3000), qos=1)
        self.assertEqual(self.received(sub, 3), [("copy/img-%d" % i, {"ref": "img-%d" % i}) for i in range(3)])
        r = self.wait_rule(b, "slow", lambda r: r["actions"][0]["errors"] == 3, "3 calls past their deadline")
        self.assertIn("DEADLINE_EXCEEDED", r["actions"][0]["last_error"])
        self.assertEqual((r["errors"]["action"], r["actions"][0]["done"], r["actions"][1]["done"]), (3, 0, 0), r)
        r = self.wait_rule(b, "failing", lambda r: r["actions"][0]["errors"] == 3, "3 failed calls")
        self.assertEqual(r["actions"][0]["last_error"], "INTERNAL: model not loaded")
        self.assertEqual(r["errors"]["action"], 3, r)
        sub.expect_no_message(0.2)
        # A rule removed while its call is in flight lets go of it; the others go on.
        status, body = http_json(b, "POST", "/api/v1/rules", {
            "id": "patient", "sql": "SELECT * FROM \"img/+\"",
            "actions": [{"grpc": {"address": "127.0.0.1:%d" % peer.port, "proto": PROTO,
                                  "service": "vision.Inspector", "method": "Score", "timeout_ms": 60000}}]})
        self.assertEqual(status, 201, body)
        pub.publish("img/cam1", image("img-9", "cam1", 0.5, delay_ms=3000), qos=1)
        self.wait_for(lambda: [r["method"] for r in peer.requests() if r["ref"] == "img-9"].count("Score") == 2,
                      "the call in flight")
        status, body = http_json(b, "DELETE", "/api/v1/rules/patient")
        self.assertEqual(status, 204, body)
        pub.publish("img/cam2", image("img-10", "cam2", 0.5), qos=1)
        self.assertEqual(self.received(sub, 2), [("copy/img-9", {"ref": "img-9"}), ("copy/img-10", {"ref": "img-10"})])

    def test_a_proto_without_the_method_is_refused_with_the_rule(self):
        b = self.start_broker()
        status, body = http_json(b, "POST", "/api/v1/rules", {
            "id": "x", "sql": "SELECT * FROM \"img/+\"",
            "actions": [{"grpc": {"address": "127.0.0.1:1", "proto": PROTO, "service": "vision.Inspector",
                                  "method": "Grade"}}]})
        self.assertEqual(status, 400, body)
        self.assertIn("service vision.Inspector has no method 'Grade'", body["error"])


if __name__ == "__main__":
    import unittest
    unittest.main()
