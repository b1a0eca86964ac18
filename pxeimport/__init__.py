"""pxeimport: keep a TFTP root stocked with the files machines need to network-boot."""
