"""Configuration: the only module that reads files and the environment.

Network and policy files are read here (``load_network``, ``load_policy_files``), and so
is a node home, a directory::

    DIR/node.toml         party, database, limits
    DIR/network.toml      the network file the node runs under (a copy)
    DIR/tisa.db           the SQLite database (unless a database URL is given)
    DIR/signing-key.pem   the node's Ed25519 key, mode 0600
    DIR/log-checkpoint    the latest checkpoint the node's log signed (see docs/ledger.md)
    DIR/node-secret       32 random bytes (hex), mode 0600: keys HMACs (paging tokens,
                          the credential cache); never leaves the node

Settings are frozen value objects built here and passed down.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.agreements.network_file import parse_network
from tisa.crypto.keys import (
    format_public_key,
    generate_signing_key,
    load_private_key,
    save_private_key,
)
from tisa.crypto.sealing import format_seal_public_key, generate_seal_key, save_seal_key
from tisa.errors import ConfigError, InvalidInput, NetworkFileError, Problem
from tisa.model.network import Network
from tisa.policy.release_policy import PolicyFile


def read_text_file(path: Path, *, what: str) -> str:
    """Read a UTF-8 text file, turning OS and encoding errors into a clear ``InvalidInput``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, expected a {what}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the {what} ({exc.strerror})") from None


def load_network(path: Path) -> Network:
    """Read and validate a network file; ``NetworkFileError`` lists every problem."""
    try:
        text = read_text_file(path, what="network file")
    except InvalidInput as exc:
        raise NetworkFileError(
            str(path), [Problem(where="file", field="path", message=str(exc))]
        ) from None
    return parse_network(text, source=str(path))


def load_policy_files(paths: list[Path]) -> list[PolicyFile]:
    """Read a node's extra Cedar policy files (checked when the policy is built)."""
    return [PolicyFile(name=str(p), text=read_text_file(p, what="policy file")) for p in paths]


# -- node home ------------------------------------------------------------------

NODE_FILE = "node.toml"
NETWORK_FILE = "network.toml"
DATABASE_FILE = "tisa.db"
SIGNING_KEY_FILE = "signing-key.pem"
SECRET_FILE = "node-secret"  # noqa: S105 (a file name)
#: the latest checkpoint the node's log signed, kept outside the database (rollback check)
LOG_HIGH_WATER_FILE = "log-checkpoint"
#: the transparency log's SQLite file, beside the node's own database
LOG_DATABASE_FILE = "log.db"
SEAL_KEY_FILE = "seal-key.pem"
DEFAULT_CONSENT_TTL_SECONDS = 7 * 24 * 3600

DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024
DEFAULT_PAGE_LIMIT = 1000


@dataclass(frozen=True, kw_only=True)
class NodeSettings:
    """Everything a running node needs, read once at start."""

    home: Path
    party: str
    network_path: Path
    database_url: str
    secret: bytes
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    page_limit: int = DEFAULT_PAGE_LIMIT
    title: str = "tisa node"
    #: how long a hub waits for the originator's answer to a consent request
    consent_ttl_seconds: int = DEFAULT_CONSENT_TTL_SECONDS
    #: ``tisa serve --as-of``: decide routes as if on this day (None: today, UTC)
    as_of: date | None = None

    @property
    def log_database_url(self) -> str:
        """Where the transparency log lives: the node's database on PostgreSQL; on SQLite a
        file of its own (``log.db``). SQLite has one writer per file, and the exchange
        records log entries inside its own batch transactions: one file would deadlock."""
        if self.database_url.startswith("sqlite"):
            return sqlite_url(self.home / LOG_DATABASE_FILE)
        return self.database_url


@dataclass(frozen=True, kw_only=True)
class TlsSettings:
    cert: Path
    key: Path


@dataclass(frozen=True, kw_only=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    tls: TlsSettings | None = None


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def init_node_home(home: Path, *, party: str, network_file: Path) -> str:
    """Create a node home; return the node's public key (``ed25519:<base64>``).

    Refuses a directory that already holds a node (never overwrites a key)."""
    if (home / NODE_FILE).exists() or (home / SIGNING_KEY_FILE).exists():
        raise ConfigError(f"{home}: already a node home; choose an empty directory")
    if not network_file.is_file():
        raise InvalidInput(f"{network_file}: network file not found; give --network FILE")
    try:
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        shutil.copyfile(network_file, home / NETWORK_FILE)
        key = generate_signing_key()
        save_private_key(key, home / SIGNING_KEY_FILE)
        _write_secret(home / SECRET_FILE)
        save_seal_key(generate_seal_key(), home / SEAL_KEY_FILE)
        (home / NODE_FILE).write_text(
            f'party = "{party}"\nnetwork = "{NETWORK_FILE}"\n'
            f"# database_url = \"postgresql://user:password@host/db\"  "
            f"(default: the SQLite file {DATABASE_FILE})\n"
            f"max_content_length = {DEFAULT_MAX_CONTENT_LENGTH}\n"
            f"# how long a hub waits for an originator's answer to a consent request\n"
            f"consent_ttl_seconds = {DEFAULT_CONSENT_TTL_SECONDS}\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise ConfigError(f"{home}: cannot create the node home ({exc.strerror})") from exc
    return format_public_key(key.public_key())


def node_public_key(home: Path) -> str:
    _require_home(home)
    return format_public_key(load_private_key(home / SIGNING_KEY_FILE).public_key())


def node_signing_key(home: Path) -> Ed25519PrivateKey:
    """The node's Ed25519 key: it signs the node's log checkpoints and its cosignatures."""
    _require_home(home)
    return load_private_key(home / SIGNING_KEY_FILE)


def node_seal_public_key(home: Path) -> str:
    from tisa.crypto.sealing import load_seal_key

    _require_home(home)
    return format_seal_public_key(load_seal_key(home / SEAL_KEY_FILE).public_key())


def load_node_settings(home: Path, *, database_url: str | None = None) -> NodeSettings:
    """Read a node home. ``database_url`` (a flag) wins over ``node.toml``."""
    data = _require_home(home)
    party = data.get("party")
    if not isinstance(party, str) or not party:
        raise ConfigError(f"{home / NODE_FILE}: party: missing; set party = \"KOR\"")
    network = data.get("network", NETWORK_FILE)
    if not isinstance(network, str):
        raise ConfigError(f"{home / NODE_FILE}: network: must be a file name")
    network_path = (home / network).resolve()
    url = database_url or data.get("database_url") or sqlite_url(home / DATABASE_FILE)
    if not isinstance(url, str):
        raise ConfigError(f"{home / NODE_FILE}: database_url: must be a string")
    if not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ConfigError(
            "database URL must start with sqlite:/// or postgresql://; "
            f"got {url.split(':', 1)[0]}:..."
        )
    _check_database_url(url, given=database_url is not None)
    max_len = data.get("max_content_length", DEFAULT_MAX_CONTENT_LENGTH)
    if not isinstance(max_len, int) or max_len < 1024:
        raise ConfigError(f"{home / NODE_FILE}: max_content_length: an integer >= 1024 bytes")
    ttl = data.get("consent_ttl_seconds", DEFAULT_CONSENT_TTL_SECONDS)
    if not isinstance(ttl, int) or ttl < 1:
        raise ConfigError(f"{home / NODE_FILE}: consent_ttl_seconds: a positive integer")
    return NodeSettings(
        home=home,
        consent_ttl_seconds=ttl,
        party=party,
        network_path=network_path,
        database_url=url,
        secret=_read_secret(home / SECRET_FILE),
        max_content_length=max_len,
        title=f"tisa node {party}",
    )


def _check_database_url(url: str, *, given: bool) -> None:
    """Parse the URL now, so a typo is a message and not a traceback; the URL itself is
    never shown (it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    error = InvalidInput if given else ConfigError
    try:
        port = make_url(url).port
    except ValueError:
        raise error("database URL: the port is not a number (the URL is not shown: it may "
                    "hold a password)") from None
    except ArgumentError:
        raise error("database URL: cannot be parsed (the URL is not shown: it may hold a "
                    "password)") from None
    if port is not None and not 0 < port < 65536:
        raise error(f"database URL: port {port} is not in 1..65535")


def tls_settings(cert: Path | None, key: Path | None) -> TlsSettings | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise InvalidInput("TLS needs both --tls-cert FILE and --tls-key FILE")
    for path in (cert, key):
        if not path.is_file():
            raise InvalidInput(f"{path}: TLS file not found")
    import ssl

    # Load them now, as the server will: a bad file is a message, not a traceback.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"TLS: {cert} and {key} are not a PEM certificate chain and its private key "
            f"({exc.strerror or exc.__class__.__name__})"
        ) from None
    return TlsSettings(cert=cert, key=key)


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def postgres_test_url() -> str | None:
    return os.environ.get("TISA_TEST_POSTGRES_URL") or None


def _require_home(home: Path) -> dict[str, Any]:
    path = home / NODE_FILE
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"{home}: not a node home ({NODE_FILE} missing); create one with "
            f"tisa node init {home} --party CODE --network FILE"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc


def _write_secret(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")


def _read_secret(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the node secret ({exc.strerror})") from exc
    if mode & 0o077:
        raise ConfigError(f"{path}: readable by others (mode {mode:o}); fix: chmod 600 {path}")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{path}: not hex; delete it and run tisa node init again") from None
    if len(secret) < 32:
        raise ConfigError(f"{path}: the node secret is shorter than 32 bytes")
    return secret
