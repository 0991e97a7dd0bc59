"""The REST API over HTTPS, as an operator sees it: with api.tls_cert and
api.tls_key the API answers only over TLS, a client that trusts the CA gets its
answers (credentials still required where configured), one that does not is
refused, plain HTTP gets nothing, and a half-configured TLS stops the start
naming the key."""

import http.client
import json
import ssl
import unittest

import ibharness as h
from tls_certs import standard


@h.ironbridge_only("the REST API")
class ApiTlsTest(h.IBTestCase):
    def setUp(self):
        self.certs = standard(self)

    def api_toml(self, **extra):
        keys = {"tls_cert": self.certs.path("server.crt"), "tls_key": self.certs.path("server.key")}
        keys.update(extra)
        # Appended right after the harness's [api] table.
        return "\n".join("%s = %s" % (k, json.dumps(v)) for k, v in keys.items())

    def get(self, b, path, ca="ca.crt", token=None):
        ctx = ssl.create_default_context(cafile=self.certs.path(ca))
        conn = http.client.HTTPSConnection(h.HOST, b.api_port, context=ctx, timeout=5)
        headers = {"Authorization": "Bearer " + token} if token else {}
        try:
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def test_the_api_answers_over_tls_with_credentials(self):
        b = self.start_broker(extra_toml=self.api_toml(allow_anonymous=False, tokens=["s3cret"]))
        status, body = self.get(b, "/api/v1/health")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "ok")
        self.assertEqual(self.get(b, "/api/v1/rules")[0], 401)
        status, body = self.get(b, "/api/v1/rules", token="s3cret")
        self.assertEqual((status, json.loads(body)), (200, []))
        # A console session over HTTPS: its cookie is never sent over plain HTTP.
        ctx = ssl.create_default_context(cafile=self.certs.path("ca.crt"))
        conn = http.client.HTTPSConnection(h.HOST, b.api_port, context=ctx, timeout=5)
        try:
            conn.request("POST", "/api/v1/auth/login", body=json.dumps({"token": "s3cret"}))
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            flags = [f.strip() for f in r.getheader("Set-Cookie", "").split(";")]
        finally:
            conn.close()
        self.assertIn("Secure", flags)
        self.assertIn("HttpOnly", flags)

    def test_a_client_that_does_not_trust_the_ca_is_refused(self):
        b = self.start_broker(extra_toml=self.api_toml())
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.get(b, "/api/v1/health", ca="other-ca.crt")
        # The server goes on serving the others.
        self.assertEqual(self.get(b, "/api/v1/health")[0], 200)

    def test_plain_http_gets_no_answer(self):
        b = self.start_broker(extra_toml=self.api_toml())
        conn = http.client.HTTPConnection(h.HOST, b.api_port, timeout=5)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", "/api/v1/health")
            conn.getresponse()
        conn.close()
        self.assertEqual(self.get(b, "/api/v1/health")[0], 200)

    def test_a_certificate_without_its_key_stops_the_start(self):
        b = h.Broker(extra_toml='tls_cert = %s' % json.dumps(self.certs.path("server.crt")))
        self.addCleanup(b.close)
        with self.assertRaises(RuntimeError) as e:
            b.start()
        self.assertIn("api.tls_cert: api.tls_cert and api.tls_key go together", str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
