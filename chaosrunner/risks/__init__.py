"""The risk register's coverage by experiments: which risks are verified, when, and how well.

The register itself is read like every input file: its model (``kind: RiskRegister``, the seed's §2
scales, the ``risks:`` ids of experiments and game days) is ``chaosrunner.model.risks``, its reading
and which register applies to a file ``chaosrunner.read.risks``. Here:

- ``declared``: the risks experiment and game-day files declare;
- ``coverage``: which risks are verified and held, failed, stale or never verified (pure);
- ``riskscore``: the seed's §15.2 risk score from measured figures (pure);
- ``sources``: the runs of a reports folder they are computed from; ``cli``: ``chaosrunner risks``.
"""
