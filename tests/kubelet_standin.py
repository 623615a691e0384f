"""A local HTTPS STAND-IN for the kubelet checkpoint API, for tests (no kubelet runs here).

It listens on 127.0.0.1 with a certificate from a throwaway CA, REQUIRES a client certificate
from that CA, and answers POST /checkpoint/{namespace}/{pod}/{container} like the kubelet.
It is the kubelet's HTTP layer only. Behind it, either canned answers (200 with the archive
path ARCHIVE for pod "web", 500 for pod "nocriu", 403 for pod "denied", 404 otherwise), or,
with StandInKubelet.backend = crio_backend(...), a REAL CRI-O on a lab host, asked through
its CRI socket the way the kubelet asks it (crictl checkpoint = CRI CheckpointContainer).
"""
import datetime
import json
import shlex
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
    backend = None

    def do_POST(self):  # noqa: N802 - http.server's name
        peer = self.connection.getpeercert()
        self.requests.append({"path": self.path, "client": dict(x[0] for x in peer["subject"])})
        path, _sep, query = self.path.partition("?")
        parts = path.split("/")
        if len(parts) == 5 and parts[1] == "checkpoint" and self.backend:
            timeout = dict(item.partition("=")[::2] for item in query.split("&")).get("timeout")
            status, body = type(self).backend(parts[2], parts[3], parts[4], timeout)
        else:
            status, body = self.canned_answer(parts[3] if len(parts) == 5 and parts[1] == "checkpoint"
                                              else None)
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        # Like Go's net/http: the length is sent, so clients need not read to EOF.
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def canned_answer(self, pod):
        answers = {"web": (200, json.dumps({"items": [self.archive]})),
                   "nocriu": (500, "checkpoint/restore support not available"),
                   "denied": (403, "Forbidden (user=client, verb=create, resource=nodes, "
                                   "subresource=(checkpoint))")}
        return answers.get(pod, (404, "404 page not found"))

    def log_message(self, *args):
        pass


def crio_backend(run_on_node, directory="/var/lib/kubelet/checkpoints"):
    """What the kubelet does behind its checkpoint endpoint, against a real CRI-O.

    RUN_ON_NODE(command) -> (rc, stdout, stderr) runs a shell command on the node. The
    container is found by the labels the kubelet gives every container, checkpointed with
    CRI CheckpointContainer (crictl checkpoint --export) into the kubelet's archive path.
    """
    def answer(namespace, pod, container, timeout):
        labels = {"io.kubernetes.pod.namespace": namespace, "io.kubernetes.pod.name": pod,
                  "io.kubernetes.container.name": container}
        rc, ids, err = run_on_node("crictl ps -q " + " ".join(
            "--label %s" % shlex.quote("%s=%s" % item) for item in sorted(labels.items())))
        if rc != 0 or not ids.split():
            return 404, "container %s not found in pod %s/%s %s" % (container, namespace, pod, err)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        archive = "%s/checkpoint-%s_%s-%s-%s.tar" % (directory, pod, namespace, container, stamp)
        rc, _out, err = run_on_node("mkdir -p -m 0700 %s && crictl --timeout %ss checkpoint --export=%s %s"
                                    % (directory, timeout or 60, shlex.quote(archive), ids.split()[0]))
        if rc != 0:
            return 500, "checkpointing of container %s in pod %s/%s failed: %s" % (
                container, namespace, pod, err.strip())
        return 200, json.dumps({"items": [archive]})
    return answer


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
