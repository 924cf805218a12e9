"""Network: NHN's VPC API and the Neutron subset NHN exposes, with its version documents."""
