"""The ``edera-oci`` command line: runc's surface, one small module per verb.

Verb modules hold only click definitions and call ``edera_oci.lifecycle``; ``app.py`` loads
them on demand and ``main.py`` answers ``state`` without loading click at all.
"""
