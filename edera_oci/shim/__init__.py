"""``containerd-shim-edera-v2``: containerd's runc shim, with the task statistics asked of the
OCI runtime (see proxy.py for why)."""
