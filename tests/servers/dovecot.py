"""A private Dovecot IMAP server for the tests (pytest plugin, loaded from tests/conftest.py).

The session fixture `dovecot` starts `dovecot -F -c <our config>` with its own base_dir,
state_dir, log file, passwd files and maildirs under a temporary folder; nothing in /etc/dovecot
is read or touched. Plain IMAP listens on a free 127.0.0.1 port, implicit TLS on another (with
the throwaway certificate from tests/servers/tls.py, trusted through SSL_CERT_FILE), and the
plain port also offers STARTTLS.

Each test takes fresh users from `dovecot.user()`: one passwd file per user (`users/%u` in the
config) so a new user is visible immediately. A single shared passwd file would not be: Dovecot
re-reads it at most once per second.

When Dovecot is missing or cannot start, the fixture fails with Dovecot's own log; it never
skips. `scripts/ensure-dovecot` installs the Debian package on a fresh machine.
"""

from __future__ import annotations

import grp
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from mailbot.config import MailboxSettings
from tests.servers.tls import ServerCertificate, shared_certificate

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
_LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")


class DovecotError(Exception):
    """Dovecot could not be started; the message carries its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def find_binary() -> str | None:
    # /usr/sbin is not on every non-root PATH
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)),
        None,
    )


def dovecot_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    match = re.match(r"(\d+)\.(\d+)", out.stdout.strip())
    if not match:
        raise DovecotError(f"cannot read the Dovecot version from {out.stdout!r} {out.stderr!r}")
    return int(match.group(1)), int(match.group(2))


class DovecotServer:
    """One running Dovecot instance and the test users in it."""

    host = HOST

    def __init__(self, root: Path, binary: str, certificate: ServerCertificate) -> None:
        self.root = root
        self.binary = binary
        self.certificate = certificate
        self.port = free_port()
        self.tls_port = free_port()
        self.log_file = root / "dovecot.log"
        self._stderr_file = root / "dovecot.stderr"
        self._users_dir = root / "users"
        self._secrets_dir = root / "secrets"
        self._home_dir = root / "home"
        self._config = root / "dovecot.conf"
        self._proc: subprocess.Popen[bytes] | None = None
        self._counter = itertools.count(1)
        self._passwords: dict[str, str] = {}
        self._clients: list[IMAPClient] = []
        self._prepare()

    # -- setup ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        if os.geteuid() == 0:
            mail = pwd.getpwnam("mail")
            uid, gid = mail.pw_uid, mail.pw_gid
            internal_user, login_user = "dovecot", "dovenull"
            internal_group = "dovecot"
            rootless = ""
        else:
            # Rootless Dovecot: every process runs as the current user, and chroot() is not
            # allowed, so the services that chroot by default must not.
            uid, gid = os.geteuid(), os.getegid()
            internal_user = login_user = pwd.getpwuid(uid).pw_name
            internal_group = grp.getgrgid(gid).gr_name
            rootless = (
                "\n".join(
                    f"service {name} {{\n  chroot =\n}}"
                    for name in ("anvil", "ipc", "old-stats", "aggregator", "imap-urlauth-login")
                )
                + "\nservice imap-login {\n  chroot =\n}\n"
            )
        for folder in (
            self.root / "run",
            self.root / "state",
            self._users_dir,
            self._secrets_dir,
            self._home_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        # mkdtemp makes 0700 folders; the mail user must be able to walk down to its maildir.
        for folder in (self.root, self._users_dir, self._home_dir):
            folder.chmod(0o755)
        os.chown(self._home_dir, uid, gid)
        self._secrets_dir.chmod(0o700)
        major, minor = dovecot_version(self.binary)
        if (major, minor) >= (2, 4):
            cleartext = "auth_allow_cleartext = yes"
        else:
            cleartext = "disable_plaintext_auth = no"
        # Dovecot 2.4 renamed many settings; this config is written for 2.3 (Debian 12).
        self._config.write_text(
            f"""# written by tests/servers/dovecot.py; private to one test session
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = mailbot-test-{self.port}
listen = {HOST}
protocols = imap
log_path = {self.log_file}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
ssl = yes
ssl_cert = <{self.certificate.cert_file}
ssl_key = <{self.certificate.key_file}
{cleartext}
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
auth_verbose = yes
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 200
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self._users_dir}/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self._home_dir}/%u
}}
# Without this, one wrong-password test delays every later login from 127.0.0.1 by seconds
# (Dovecot's per-IP auth penalty); an unreachable penalty socket switches it off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{rootless}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.tls_port}
    ssl = yes
  }}
}}
""",
            encoding="utf-8",
        )

    # -- process control -------------------------------------------------------------------

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        stderr = self._stderr_file.open("ab")
        try:
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self._config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group, so stop() can reap it all
            )
        finally:
            stderr.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self._greets(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise DovecotError(f"Dovecot did not start on {HOST}:{self.port}.\n{self.diagnostics()}")

    def _greets(self, port: int) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        # Children (imap, auth, log) die with the master; make sure of it.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def diagnostics(self) -> str:
        parts = []
        for path in (self._stderr_file, self.log_file):
            text = path.read_text(errors="replace") if path.exists() else "(none)"
            parts.append(f"--- {path.name} ---\n{text[-4000:]}")
        return "\n".join(parts)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    # -- users and mail ----------------------------------------------------------------------

    def user(self, name: str = "user") -> tuple[str, str]:
        """Create a user no other test has seen; returns (login, password)."""
        login = f"{name.lower()}{next(self._counter)}"
        if not _LOGIN_RE.match(login):
            raise ValueError(f"bad test user name {name!r}")
        password = secrets.token_urlsafe(12)
        entry = self._users_dir / login
        tmp = entry.with_suffix(".tmp")
        tmp.write_text(f"{login}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(entry)
        secret = self.password_file(login)
        secret.write_text(password + "\n", encoding="utf-8")
        secret.chmod(0o600)
        self._passwords[login] = password
        return login, password

    def password_file(self, login: str) -> Path:
        return self._secrets_dir / f"{login}.password"

    def client(self, login: str, *, timeout: float = 5.0) -> IMAPClient:
        """A logged-in plain-IMAP client; closed at session end if the test forgets."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        client.login(login, self._passwords[login])
        self._clients.append(client)
        return client

    def append(self, login: str, folder: str, raw: bytes, flags: tuple[bytes, ...] = ()) -> int:
        """APPEND raw to folder (created if missing) as the user; returns the new UID."""
        with IMAPClient(self.host, self.port, ssl=False, timeout=10) as client:
            client.login(login, self._passwords[login])
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=flags)
        match = re.search(rb"APPENDUID \d+ (\d+)", response or b"")
        if not match:
            raise AssertionError(f"no APPENDUID in {response!r}")
        return int(match.group(1))

    def mailbox_settings(self, login: str, **overrides: Any) -> MailboxSettings:
        """Settings for ImapMailbox as this user, plain IMAP, password from a 0600 file."""
        base = MailboxSettings(
            kind="imap",
            host=self.host,
            port=self.port,
            username=login,
            password_file=self.password_file(login),
            security="none",
            timeout_seconds=5,
        )
        return base.model_copy(update=overrides)

    def close_clients(self) -> None:
        for client in self._clients:
            try:
                client.logout()
            except Exception:
                try:
                    client.shutdown()
                except Exception:
                    pass
        self._clients.clear()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A running private Dovecot for the whole session; fails (never skips) if it cannot run."""
    binary = find_binary()
    if binary is None:
        pytest.fail(
            "Dovecot is not installed (no `dovecot` binary). Install it with "
            "scripts/ensure-dovecot (Debian/Ubuntu: apt-get install dovecot-imapd).",
            pytrace=False,
        )
    root = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
    server: DovecotServer | None = None
    try:
        try:
            certificate = shared_certificate()
            server = DovecotServer(root, binary, certificate)
            server.start()
        except (DovecotError, OSError) as exc:
            pytest.fail(f"Dovecot could not be started: {exc}", pytrace=False)
        yield server
    finally:
        if server is not None:
            server.close_clients()
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
