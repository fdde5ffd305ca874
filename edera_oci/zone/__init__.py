"""Host side of a zone: the disk images, the domain, the monitor and the channel to the zone init."""
