"""Object Storage (Swift v1): accounts, containers and objects of the storage tenant."""
