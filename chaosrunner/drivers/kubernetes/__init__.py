"""The Kubernetes driver, a plugin like any other: registered under the ``chaosrunner.drivers``
entry point in chaosrunner's pyproject.toml (``kubernetes = "chaosrunner.drivers.kubernetes:KubernetesDriver"``).

Its fault and handle models import without the ``kubernetes`` client; the driver needs the client
(``pip install 'chaosrunner[kubernetes]'``) when it plans or injects. See ``driver`` for the faults.
"""
from chaosrunner.drivers.kubernetes.driver import KubernetesDriver
from chaosrunner.drivers.kubernetes.model import (
    KubernetesHandle,
    NodeDrainFault,
    PodKillFault,
    RolloutRestartFault,
    ScaleFault,
)

__all__ = ["KubernetesDriver", "KubernetesHandle", "NodeDrainFault", "PodKillFault", "RolloutRestartFault",
           "ScaleFault"]
