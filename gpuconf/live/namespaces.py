"""What every private network namespace of a local run shares: the unshare/setns flag and the off switch."""

from __future__ import annotations

#: unshare(2)/setns(2) flag of a network namespace.
CLONE_NEWNET = 0x40000000
#: Off switch: a host where namespaces are not allowed keeps working, its exposure reported.
ENV_OFF = "GPUCONF_NO_NETNS"
