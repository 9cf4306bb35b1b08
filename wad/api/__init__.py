"""The HTTP door: the seed's REST API and wad's own, on quart-trio."""
