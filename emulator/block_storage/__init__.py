"""Block Storage (Cinder v2, NHN's ``volumev2``): only the version documents so far; every
other native path answers 501 in Cinder's error style."""
