#!/usr/bin/env python3
"""A TUF repository for the keyless e2e, made with python-tuf (the reference implementation).

The repository publishes one target, `trusted_root.json` (Sigstore's trusted-root format),
with consistent snapshots, as Sigstore's public-good repository does. Everything lives in
STATE: `repo/` is what the mirror serves, `keys/` the private keys (never served), and
`state.json` the versions the repository has published.

  tuf_repository.py init STATE TRUSTED_ROOT     root, targets, snapshot, timestamp (v1 each)
  tuf_repository.py publish STATE TRUSTED_ROOT  a new trusted_root.json (targets, snapshot,
                                                timestamp versions + 1)
  tuf_repository.py rotate-root STATE           root version + 1 with new root and timestamp
                                                keys, signed by the old and the new root keys;
                                                a new timestamp signed by the new key
  tuf_repository.py timestamp STATE KIND        KIND: good (version + 1), bad-signature,
                                                expired, rollback (an older version, validly
                                                signed)

The initial root a client starts from is STATE/repo/1.root.json.
"""

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

TARGET = "trusted_root.json"
PRETTY = JSONSerializer(compact=False)


def expires(days):
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)


class Repository:
    def __init__(self, state):
        self.state = Path(state)
        self.repo = self.state / "repo"
        self.keys = self.state / "keys"
        versions = self.state / "state.json"
        self.versions = json.loads(versions.read_text()) if versions.exists() else {}

    def save_versions(self):
        (self.state / "state.json").write_text(json.dumps(self.versions))

    def new_signer(self, name):
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (self.keys / f"{name}.pem").write_bytes(pem)
        return self.signer(name)

    def signer(self, name):
        pem = (self.keys / f"{name}.pem").read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        return CryptoSigner(key, SSlibKey.from_crypto(key.public_key()))

    def role_key(self, role):
        return self.versions["keys"][role]

    def write(self, metadata, name):
        metadata.to_file(str(self.repo / name), PRETTY)

    def root(self):
        version = self.versions["root"]
        return Metadata[Root].from_file(str(self.repo / f"{version}.root.json"))

    def write_targets(self, trusted_root):
        data = Path(trusted_root).read_bytes()
        version = self.versions.get("targets", 0) + 1
        targets = Targets(version=version, expires=expires(365))
        target = TargetFile.from_data(TARGET, data)
        targets.targets[TARGET] = target
        (self.repo / "targets").mkdir(exist_ok=True)
        digest = target.hashes["sha256"]
        (self.repo / "targets" / f"{digest}.{TARGET}").write_bytes(data)
        metadata = Metadata(targets)
        metadata.sign(self.signer(self.role_key("targets")))
        self.write(metadata, f"{version}.targets.json")
        self.versions["targets"] = version

    def write_snapshot(self):
        version = self.versions.get("snapshot", 0) + 1
        snapshot = Snapshot(version=version, expires=expires(365))
        snapshot.meta["targets.json"] = MetaFile(self.versions["targets"])
        metadata = Metadata(snapshot)
        metadata.sign(self.signer(self.role_key("snapshot")))
        self.write(metadata, f"{version}.snapshot.json")
        self.versions["snapshot"] = version

    def write_timestamp(self, kind="good"):
        version = self.versions.get("timestamp", 0) + 1
        days = 365
        if kind == "rollback":
            version = self.versions["timestamp"] - 1
        elif kind == "expired":
            days = -1
        timestamp = Timestamp(version=version, expires=expires(days))
        timestamp.snapshot_meta = MetaFile(self.versions["snapshot"])
        metadata = Metadata(timestamp)
        metadata.sign(self.signer(self.role_key("timestamp")))
        if kind == "bad-signature":
            signature = next(iter(metadata.signatures.values()))
            flipped = "0" if signature.signature[0] != "0" else "1"
            signature.signature = flipped + signature.signature[1:]
        self.write(metadata, "timestamp.json")
        if kind == "good":
            self.versions["timestamp"] = version

    def init(self, trusted_root):
        self.repo.mkdir(parents=True)
        self.keys.mkdir(parents=True)
        names = {role: f"{role}-1" for role in ("root", "targets", "snapshot", "timestamp")}
        root = Root(version=1, expires=expires(365), consistent_snapshot=True)
        for role, name in names.items():
            root.add_key(self.new_signer(name).public_key, role)
        metadata = Metadata(root)
        metadata.sign(self.signer(names["root"]))
        self.write(metadata, "1.root.json")
        self.versions = {"root": 1, "keys": names}
        self.write_targets(trusted_root)
        self.write_snapshot()
        self.write_timestamp()

    def publish(self, trusted_root):
        self.write_targets(trusted_root)
        self.write_snapshot()
        self.write_timestamp()

    def rotate_root(self):
        old = self.root()
        version = self.versions["root"] + 1
        root = old.signed
        root.version = version
        root.expires = expires(365)
        for role in ("root", "timestamp"):
            old_name = self.role_key(role)
            root.revoke_key(self.signer(old_name).public_key.keyid, role)
            new_name = f"{role}-{version}"
            root.add_key(self.new_signer(new_name).public_key, role)
            self.versions["keys"][role] = new_name
        metadata = Metadata(root)
        metadata.sign(self.signer(self.versions["keys"]["root"]))
        metadata.sign(self.signer(f"root-{version - 1}"), append=True)
        self.write(metadata, f"{version}.root.json")
        self.versions["root"] = version
        self.write_timestamp()


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    command, repository = argv[1], Repository(argv[2])
    if command == "init" and len(argv) == 4:
        repository.init(argv[3])
    elif command == "publish" and len(argv) == 4:
        repository.publish(argv[3])
    elif command == "rotate-root" and len(argv) == 3:
        repository.rotate_root()
    elif command == "timestamp" and len(argv) == 4 and argv[3] in (
        "good",
        "bad-signature",
        "expired",
        "rollback",
    ):
        repository.write_timestamp(argv[3])
    else:
        sys.exit(__doc__)
    repository.save_versions()


if __name__ == "__main__":
    main(sys.argv)
