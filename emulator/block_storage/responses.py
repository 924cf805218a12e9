"""Block Storage's handlers (Cinder v2): none yet besides the version documents."""
