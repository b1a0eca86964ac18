"""Upstream archive layouts: where an archive keeps its netboot files and how it lists them."""
