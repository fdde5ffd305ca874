"""``python3 -m edera_oci``: the same as the ``edera-oci`` command."""

from edera_oci.cli.main import console_main

console_main()
