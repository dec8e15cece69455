"""The transparency-log core: pure (no I/O, no HTTP, no environment).

* ``merkle``      RFC 6962 hashing, the append-only in-memory tree, proof generation
* ``compact_range`` the O(log n) right edge a durable log appends with
* ``proofs``      inclusion and consistency verification, RFC 9162 §2.1.3.2 / §2.1.4.2
* ``note``        C2SP signed-note: Ed25519 signers, verifier keys, strict parsing
* ``checkpoint``  C2SP tlog-checkpoint bodies, signing and opening
* ``cosignature`` C2SP tlog-cosignature v1 (Ed25519, key type 0x04)
* ``tiles``       C2SP tlog-tiles paths, coordinates, tile and entry-bundle bytes
* ``witness``     the C2SP tlog-witness add-checkpoint decision
* ``tlog_proof``  C2SP tlog-proof offline receipts
* ``entries``     the canonical JSON log entry of one exchange event
* ``audit``       recompute-and-compare checks that report findings
* ``log_names``   the origin and witness key names of a party (``tisa.<code>/log``)

Formats, hashing and how to verify by hand: ``docs/ledger.md``.
"""
