"""Reading files: YAML with line marks, references (``${...}``) resolved, typed models validated.

- ``parse``: YAML with the position of every node, and pydantic errors turned into located ones;
- ``resolve``: ``${target.field}``, ``${env:X}``, ``${file:P}``, ``${var:N}`` and the secrets they bring;
- ``ctk``: a Chaos Toolkit experiment turned into the chaosrunner form;
- ``documents``: experiment files and inventories read into ``LoadedExperiment``.
"""
