"""Signing, envelopes and sealing: a thin, pure layer over ``cryptography``.

What the exchange layer calls (see ``docs/envelopes.md``):

* ``signed``: ``sign_statement``, ``verify_statement`` (the check every hop makes)
* ``items``: ``ItemStatement``, ``new_item_statement``, ``item_content``
* ``statements``: ``ConsentStatement``, ``RelayStatement`` (a receipt is a tlog-proof:
  ``tisa.ledger.receipt_proofs``)
* ``dsse``: the DSSE v1 envelope itself (``Envelope``, ``parse_envelope``)
* ``sealing``: HPKE to a recipient and X25519 sealing keys
* ``keys``: Ed25519 signing keys

Modules starting with ``_`` are not API.
"""
