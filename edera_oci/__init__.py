"""edera-oci: a runc-compatible OCI runtime that runs each container in its own Xen PV zone."""

__version__ = "0.1.0"
OCI_VERSION = "1.2.0"
