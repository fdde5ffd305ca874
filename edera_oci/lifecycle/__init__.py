"""OCI lifecycle operations (one module per operation), over the ZoneBackend protocol.

Kept import-free on purpose: ``state`` loads ``container_state`` alone on its fast path.
"""
