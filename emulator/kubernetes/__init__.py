"""NHN Kubernetes Service (Magnum v1): clusters, node groups, kubeconfig, supported versions
and the version documents (only in the regions NKS runs in)."""
