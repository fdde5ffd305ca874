"""Host side of a zone: its disks, its domain, its monitor and the channel to the zone init."""
