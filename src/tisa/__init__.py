"""tisa: intelligence sharing under agreements.

Pure core: ``model``, ``agreements``, ``policy``, ``ledger`` (no I/O).
Adapters around it: ``store``, ``exchange``, ``api``, ``cli``; ``config`` is the
only module that reads files and the environment.
"""

__version__ = "0.1.0"
