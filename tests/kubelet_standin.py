"""A local HTTPS STAND-IN for the kubelet checkpoint API, for tests (no kubelet runs here).

It listens on 127.0.0.1 with a certificate from a throwaway CA, REQUIRES a client certificate
from that CA, and answers POST /checkpoint/{namespace}/{pod}/{container} like the kubelet:
200 with JSON items (the archive path of pod "web", or ARCHIVE), 500 for pod "nocriu",
403 for pod "denied" and 404 otherwise.
"""
import datetime
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ARCHIVE = "/var/lib/kubelet/checkpoints/checkpoint-web_shop-app-2026-01-01T00:00:00Z.tar"


def make_cert(directory, name, issuer=None, server=False):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer[0].subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1)))
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    elif server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost")]), False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    cert_path, key_path = directory / (name + ".crt"), directory / (name + ".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert, key, str(cert_path), str(key_path)


class StandInKubelet(BaseHTTPRequestHandler):
    """Answers POST /checkpoint/{namespace}/{pod}/{container} the way the kubelet does."""

    requests = []
    archive = ARCHIVE

    def do_POST(self):  # noqa: N802 - http.server's name
        peer = self.connection.getpeercert()
        self.requests.append({"path": self.path, "client": dict(x[0] for x in peer["subject"])})
        parts = self.path.split("?")[0].split("/")
        pod = parts[3] if len(parts) == 5 and parts[1] == "checkpoint" else None
        answers = {"web": (200, json.dumps({"items": [self.archive]})),
                   "nocriu": (500, "checkpoint/restore support not available"),
                   "denied": (403, "Forbidden (user=client, verb=create, resource=nodes, "
                                   "subresource=(checkpoint))")}
        status, body = answers.get(pod, (404, "404 page not found"))
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        # Like Go's net/http: the length is sent, so clients need not read to EOF.
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def make_pki(directory):
    """CA, another CA, kubelet serving cert (localhost), client cert and a stranger's cert."""
    ca = make_cert(directory, "ca")
    other_ca = make_cert(directory, "other-ca")
    return {"ca": ca, "other_ca": other_ca,
            "server": make_cert(directory, "kubelet", issuer=ca, server=True),
            "client": make_cert(directory, "client", issuer=ca),
            "stranger": make_cert(directory, "stranger", issuer=other_ca)}


def start_kubelet(pki):
    """Start the stand-in; returns (server, port). Stop it with server.shutdown()."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server"][2], pki["server"][3])
    context.load_verify_locations(pki["ca"][2])
    context.verify_mode = ssl.CERT_REQUIRED
    server = HTTPServer(("127.0.0.1", 0), StandInKubelet)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]
