"""The OPC UA client's server certificates through the REST API, as a user
handles them: a certificate the client refused (saved in data_dir/pki/rejected)
is listed with its thumbprint, trusted with one request (moved to trusted/),
and rejected again; an unknown thumbprint is a 404 that says so."""

import hashlib
import os
import shutil
import subprocess
import tempfile
import unittest

import ibharness as h
from modbus_peers import http_json


def server_certificate(directory):
    """A self-signed certificate like a PLC's, in DER: (path, SHA-1 hex)."""
    der = os.path.join(directory, "plc.der")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    os.path.join(directory, "plc.key"), "-outform", "DER", "-out", der, "-days", "30",
                    "-subj", "/CN=PLC1", "-addext", "subjectAltName=URI:urn:plant:plc1"],
                   check=True, capture_output=True)
    with open(der, "rb") as f:
        return der, hashlib.sha1(f.read()).hexdigest()


@h.ironbridge_only("the OPC UA certificate API")
class OpcuaCertificatesTest(h.IBTestCase):

    def test_a_rejected_certificate_is_listed_trusted_and_rejected_again(self):
        b = self.start_broker()
        work = tempfile.mkdtemp(prefix="ibtest-cert-")
        self.addCleanup(shutil.rmtree, work, True)
        der, thumbprint = server_certificate(work)
        rejected = os.path.join(b.data_dir, "pki", "rejected")
        os.makedirs(rejected)
        os.rename(der, os.path.join(rejected, "PLC1 [%s].der" % thumbprint))

        status, listing = http_json(b, "GET", "/api/v1/opcua/certificates")
        self.assertEqual(status, 200, listing)
        self.assertEqual([(c["thumbprint"], c["subject"], c["application_uri"], c["trusted"]) for c in listing],
                         [(thumbprint, "PLC1", "urn:plant:plc1", False)])

        status, body = http_json(b, "POST", "/api/v1/opcua/certificates/%s/trust" % thumbprint.upper())
        self.assertEqual(status, 200, body)
        self.assertTrue(body["trusted"], body)
        self.assertTrue(os.path.exists(os.path.join(b.data_dir, "pki", "trusted", "PLC1 [%s].der" % thumbprint)))
        status, listing = http_json(b, "GET", "/api/v1/opcua/certificates")
        self.assertEqual([c["trusted"] for c in listing], [True], listing)

        status, body = http_json(b, "POST", "/api/v1/opcua/certificates/%s/reject" % thumbprint)
        self.assertEqual(status, 200, body)
        self.assertFalse(body["trusted"], body)

        status, body = http_json(b, "POST", "/api/v1/opcua/certificates/00ff/trust")
        self.assertEqual(status, 404, body)
        self.assertIn("00ff", str(body))


if __name__ == "__main__":
    unittest.main()
