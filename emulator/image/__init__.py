"""Image (Glance v2): NHN's public images, their listing and the version documents."""
