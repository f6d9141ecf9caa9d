"""A Dovecot IMAP server of the test's own: a config in a temporary directory, a port of
its own on loopback, a passwd-file user, maildirs in the same directory, and a self-signed
certificate made here for 127.0.0.1 (the app trusts it through MAILBOX_CA_FILE, so TLS is
verified as in production). Started in a session of its own and stopped by its PID.

As root Dovecot runs its login processes as Debian's `dovenull` and the mail as `nobody`;
as another user everything runs as that user.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import ipaddress
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from tests.processes import free_port, wait_for

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
USER, PASSWORD = "billing@business.example", "imap-test-password"


def _certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


class Dovecot:
    def __init__(self):
        self.directory = Path(tempfile.mkdtemp(prefix="dossier-imap-"))  # not under pytest's 0700 root
        self.directory.chmod(0o755)
        self.port, self.imaps_port = free_port(), free_port()
        self.cert, key = _certificate(self.directory)
        self.log = self.directory / "dovecot.log"
        root = os.geteuid() == 0
        me = pwd.getpwuid(os.geteuid()).pw_name
        mail_user = pwd.getpwnam("nobody") if root else pwd.getpwuid(os.geteuid())
        home = self.directory / "mail"
        home.mkdir()
        os.chown(home, mail_user.pw_uid, mail_user.pw_gid)
        (self.directory / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        config = self.directory / "dovecot.conf"
        config.write_text(f"""
base_dir = {self.directory}/run
state_dir = {self.directory}/state
log_path = {self.log}
info_log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_internal_user = {"dovecot" if root else me}
default_login_user = {"dovenull" if root else me}
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.directory}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={home}/%n
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=self.log.open("ab"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: self._answers() or self.process.poll() is not None, 30, 0.1, "Dovecot to answer")
            assert self.process.poll() is None, self.log.read_text()[-3000:]
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        try:
            with imaplib.IMAP4("127.0.0.1", self.port, timeout=1):
                return True
        except OSError:
            return False

    def client(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.cert))
        client = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=context, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message in with IMAP APPEND, as a mail client would."""
        with self.client() as client:
            if folder != "INBOX":
                client.create(folder)  # NO when it exists: fine
            status, answer = client.append(folder, None, imaplib.Time2Internaldate(time.time()), raw)
            assert status == "OK", answer

    def recreate(self, folder: str) -> None:
        """Delete and create the folder again: a new UIDVALIDITY, UIDs from 1."""
        with self.client() as client:
            assert client.delete(folder)[0] == "OK"
            time.sleep(1.1)  # Dovecot derives a new folder's UIDVALIDITY from the clock
            assert client.create(folder)[0] == "OK"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group this test started
                self.process.wait(timeout=10)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
