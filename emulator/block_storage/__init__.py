"""Block Storage (Cinder v2, NHN's ``volumev2``): volume types and volumes with their timed
transitions, plus the version documents. Volumes are attached on the compute endpoint
(``compute/attachments.py``), which reaches them through the region's state."""
