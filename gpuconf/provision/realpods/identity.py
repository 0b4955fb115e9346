"""Each kubelet's own identity: a client certificate ``CN=system:node:<node>, O=system:nodes``.

With it the API server's Node authorizer and the NodeRestriction admission plugin treat each
kubelet as a real cluster does: a node may change its own Node object and read what its own
pods need, and nothing of another node. The certificate is signed by the control plane's CA
(the kwok tier's throw-away PKI) with the ``cryptography`` package.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gpuconf.provision.kwok.certs import Pki
from gpuconf.provision.kwok.kubeconfig import write_kubeconfig

NODES_GROUP = "system:nodes"
VALIDITY = dt.timedelta(days=30)


def node_user(node: str) -> str:
    """The user name the Node authorizer recognises as node ``node``."""
    return f"system:node:{node}"


def issue_node_cert(pki: Pki, node: str, out_dir: Path) -> tuple[Path, Path]:
    """Sign a client certificate for ``node`` with the control plane's CA; return (cert, key)."""
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{pki.ca_key}: expected an EC key, got {type(ca_key).__name__}")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
            x509.NameAttribute(NameOID.COMMON_NAME, node_user(node)),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out_dir / "kubelet-client.crt", out_dir / "kubelet-client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def node_kubeconfig(pki: Pki, server: str, node: str, out_dir: Path) -> Path:
    """A kubeconfig for ``node``'s kubelet with its own certificate (written to ``out_dir``)."""
    cert, key = issue_node_cert(pki, node, out_dir)
    return write_kubeconfig(
        out_dir / "kubelet.kubeconfig",
        server=server,
        ca_cert=pki.ca_cert,
        client_cert=cert,
        client_key=key,
        user=node_user(node),
    )


def subject_of(cert_path: Path) -> dict[str, list[str]]:
    """The certificate's CN and O values (for evidence and tests)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return {
        "CN": [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)],
        "O": [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)],
    }
