# ruff: noqa: E501
"""Response examples copied verbatim from the NHN API reference (docs/nhn-api/*.md).

The conformance tests check that the emulator answers with (at least) these keys and
value types. Regenerate by copying the ```json blocks of the reference when it changes.
"""

import json
from typing import Any

EXAMPLES: dict[str, Any] = {
    # identity.md
    "token_compute": json.loads(
        r"""{"access": {"token": {"id": "e42a092ed6ee4d99949bf25f5f6ecc60", "expires": "2020-04-29T15:31:21Z", "tenant": {"id": "f5073eaa26b64cffbee89411df94ce01", "name": "c_VKkasVsh", "groupId": "XEj2zkHrbA7modGU", "description": "", "enabled": true, "project_domain": "NORMAL"}, "issued_at": "2020-04-29T03:32:28.000405"}, "serviceCatalog": [{"endpoints": [{"region": "KR2", "publicURL": "https://kr2-api-instance-infrastructure.nhncloudservice.com/v2/f5073eaa26b64cffbee89411df94ce01"}, {"region": "KR1", "publicURL": "https://kr1-api-instance-infrastructure.nhncloudservice.com/v2/f5073eaa26b64cffbee89411df94ce01"}], "type": "compute", "name": "nova"}, {"endpoints": [{"region": "KR2", "publicURL": "https://kr2-api-image-infrastructure.nhncloudservice.com"}, {"region": "KR1", "publicURL": "https://kr1-api-image-infrastructure.nhncloudservice.com"}], "type": "image", "name": "glance"}, {"endpoints": [{"region": "KR1", "publicURL": "https://api-identity-infrastructure.nhncloudservice.com/v2.0"}], "type": "identity", "name": "keystone"}, {"endpoints": [{"region": "KR2", "publicURL": "https://kr2-api-key-manager-infrastructure.nhncloudservice.com"}, {"region": "KR1", "publicURL": "https://kr1-api-key-manager-infrastructure.nhncloudservice.com"}], "type": "key-manager", "name": "barbican"}, {"endpoints": [{"region": "KR2", "publicURL": "https://kr2-api-block-storage-infrastructure.nhncloudservice.com/v2/f5073eaa26b64cffbee89411df94ce01"}, {"region": "KR1", "publicURL": "https://kr1-api-block-storage-infrastructure.nhncloudservice.com/v2/f5073eaa26b64cffbee89411df94ce01"}], "type": "volumev2", "name": "cinderv2"}, {"endpoints": [{"region": "KR2", "publicURL": "https://kr2-api-network-infrastructure.nhncloudservice.com"}, {"region": "KR1", "publicURL": "https://kr1-api-network-infrastructure.nhncloudservice.com"}], "type": "network", "name": "neutron"}], "user": {"id": "436f727b7c9142f896ddd56be591dd7f", "username": "37be6ac0-d660-11e7-ae46-005056ac1497", "name": "37be6ac0-d660-11e7-ae46-005056ac1497", "roles": [{"name": "project_admin"}], "roles_links": []}, "metadata": {"roles": ["9fe2ff9ee4384b1894a90878d3e92bab"], "is_admin": 0}}}"""
    ),
    # identity.md
    "token_storage": json.loads(
        r"""{"access": {"token": {"expires": "2018-01-15T08:05:05Z", "id": "b587ae461278419da6ecd21a2344c8aa", "tenant": {"description": "", "enabled": true, "id": "6dbc368b94894416bec4cdfc65b5e067", "name": "c_xxxxxxxx", "groupId": "XXXXXXXXXXXXXXXX", "project_domain": "NORMAL", "swift": true}, "issued_at": "2018-01-15T07:05:05.719672"}, "serviceCatalog": [{"endpoints": [{"region": "KR1", "publicURL": "https://kr1-api-object-storage.nhncloudservice.com/v1/AUTH_6dbc368b94894416bec4cdfc65b5e067"}], "type": "object-store", "name": "swift", "endpoints_links": []}]}}"""
    ),
    # compute.md
    "nova_error": json.loads(
        r"""{"itemNotFound": {"code": 404, "message": "Instance 3a005d5b-63cf-4493-bfc6-49db990b5b50 could not be found."}}"""
    ),
    # compute.md
    "flavors": json.loads(
        r"""{"flavors": [{"id": "013bea75-8541-4c6f-9abe-a03fee3d74fe", "name": "m2.c2m4", "links": [{"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/v2/6cdebe3eb0094910bc41f1d42ebe4cb7/flavors/013bea75-8541-4c6f-9abe-a03fee3d74fe", "rel": "self"}, {"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/6cdebe3eb0094910bc41f1d42ebe4cb7/flavors/013bea75-8541-4c6f-9abe-a03fee3d74fe", "rel": "bookmark"}]}]}"""
    ),
    # compute.md
    "flavors_detail": json.loads(
        r"""{"flavors": [{"name": "x1.c32m256", "links": [{"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/v2/6cdebe3eb0094910bc41f1d42ebe4cb7/flavors/97604802-a090-43fa-a5ce-c7cfd737fbba", "rel": "self"}, {"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/6cdebe3eb0094910bc41f1d42ebe4cb7/flavors/97604802-a090-43fa-a5ce-c7cfd737fbba", "rel": "bookmark"}], "ram": 262144, "OS-FLV-DISABLED:disabled": false, "vcpus": 32, "extra_specs": {"flavor_type": "performance"}, "swap": "", "os-flavor-access:is_public": true, "rxtx_factor": 1.0, "OS-FLV-EXT-DATA:ephemeral": 0, "disk": 0, "id": "97604802-a090-43fa-a5ce-c7cfd737fbba"}]}"""
    ),
    # compute.md
    "availability_zones": json.loads(
        r"""{"availabilityZoneInfo": [{"zoneState": {"available": true}, "zoneName": "kr-pub-a"}, {"zoneState": {"available": true}, "zoneName": "kr-pub-b"}]}"""
    ),
    # compute.md
    "keypairs": json.loads(
        r"""{"keypairs": [{"keypair": {"public_key": "ssh-rsa AAAAB3NzaC1yc2EAAA... Generated-by-Nova", "name": "my-keypair", "fingerprint": "SHA256:+EZoDd4cK1c9Hk4k2X9gqjv1pZ3fZbZ3o2h3b3zN0Aw"}}]}"""
    ),
    # compute.md
    "keypair_get": json.loads(
        r"""{"keypair": {"public_key": "ssh-rsa AAAAB3NzaC1yc2EAAA... Generated-by-Nova", "user_id": "826a1213b3f746829515486965690dfe", "name": "my-keypair", "deleted": false, "created_at": "2020-02-07T03:46:48.000000", "updated_at": null, "fingerprint": "SHA256:...", "deleted_at": null, "id": 51}}"""
    ),
    # compute.md
    "keypair_create": json.loads(
        r"""{"keypair": {"fingerprint": "SHA256:+EZoD.../DKiGnY4zf5tYrcix0", "name": "my-keypair", "public_key": "ssh-rsa AAAA... Generated-by-Nova", "private_key": "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n", "user_id": "436f727b7c9142f896ddd56be591dd7f"}}"""
    ),
    # compute.md
    "servers": json.loads(
        r"""{"servers": [{"id": "aaf2778b-ea03-4ccc-8b1b-92f4b686c3ec", "links": [{"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/v2/6cdebe3eb0094910bc41f1d42ebe4cb7/servers/aaf2778b-ea03-4ccc-8b1b-92f4b686c3ec", "rel": "self"}, {"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/6cdebe3eb0094910bc41f1d42ebe4cb7/servers/aaf2778b-ea03-4ccc-8b1b-92f4b686c3ec", "rel": "bookmark"}], "name": "Web-Server"}]}"""
    ),
    # compute.md
    "server_get": json.loads(
        r"""{"server": {"id": "aaf2778b-ea03-4ccc-8b1b-92f4b686c3ec", "name": "Web-Server", "status": "ACTIVE", "tenant_id": "6cdebe3eb0094910bc41f1d42ebe4cb7", "user_id": "b6ab578c20c94306ac1f41ffc4415b29", "created": "2020-02-25T01:15:46Z", "updated": "2020-02-25T01:22:24Z", "hostId": "078d06f898889699f8731d030812e43d2c417edb2cf641dda598c7bd", "addresses": {"Default Network": [{"OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:54:a7:64", "version": 4, "addr": "192.168.0.40", "OS-EXT-IPS:type": "fixed"}, {"OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:54:a7:64", "version": 4, "addr": "133.186.242.214", "OS-EXT-IPS:type": "floating"}]}, "links": [{"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/v2/6cdebe3eb0094910bc41f1d42ebe4cb7/servers/aaf2778b-ea03-4ccc-8b1b-92f4b686c3ec", "rel": "self"}, {"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/6cdebe3eb0094910bc41f1d42ebe4cb7/servers/aaf2778b-ea03-4ccc-8b1b-92f4b686c3ec", "rel": "bookmark"}], "key_name": "my-keypair", "image": {"id": "8b9f8d47-b89b-45af-b1d6-3f7ce7e06a11", "links": [{"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/6cdebe3eb0094910bc41f1d42ebe4cb7/images/8b9f8d47-b89b-45af-b1d6-3f7ce7e06a11", "rel": "bookmark"}]}, "flavor": {"id": "35a73b57-58a7-434d-aa08-5249aaa95b3e", "links": [{"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/6cdebe3eb0094910bc41f1d42ebe4cb7/flavors/35a73b57-58a7-434d-aa08-5249aaa95b3e", "rel": "bookmark"}]}, "OS-EXT-STS:task_state": null, "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1, "OS-SRV-USG:launched_at": "2020-02-25T01:22:23.000000", "OS-SRV-USG:terminated_at": null, "OS-EXT-AZ:availability_zone": "kr-pub-b", "security_groups": [{"name": "default"}], "os-extended-volumes:volumes_attached": [{"id": "90712f4f-2faa-4e4f-8eb1-9313a8595570"}], "accessIPv4": "", "accessIPv6": "", "progress": 0, "config_drive": "", "metadata": {"os_distro": "ubuntu", "os_version": "Server 20.04 LTS", "os_type": "linux", "os_architecture": "amd64", "image_name": "Ubuntu Server 20.04.6 LTS (2023.11.21)", "description": "Ubuntu Server 20.04.6 LTS (2023.11.21)", "login_username": "ubuntu", "volume_size": "20", "project_domain": "NORMAL", "monitoring_agent": "sysmon", "tc_env": "sysmon"}, "NHN-EXT-ATTR:ephemeral_disk_size": 0, "NHN-EXT-ATTR:protect": false}}"""
    ),
    # compute.md
    "server_create": json.loads(
        r"""{"server": {"security_groups": [{"name": "default"}], "id": "3a005d5b-63cf-4493-bfc6-49db990b5b50", "links": [{"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/v2/6cdebe3eb0094910bc41f1d42ebe4cb7/servers/3a005d5b-63cf-4493-bfc6-49db990b5b50", "rel": "self"}, {"href": "https://kr1-api-instance-infrastructure.nhncloudservice.com/6cdebe3eb0094910bc41f1d42ebe4cb7/servers/3a005d5b-63cf-4493-bfc6-49db990b5b50", "rel": "bookmark"}]}}"""
    ),
    # compute.md
    "images": json.loads(
        r"""{"images": [{"id": "1c868787-6207-4ff2-a1e7-ae1331d6829b", "name": "Ubuntu Server 22.04 LTS (2024.01.16)", "status": "active", "visibility": "public", "protected": true, "container_format": "bare", "disk_format": "qcow2", "min_disk": 20, "min_ram": 0, "size": 1778843648, "virtual_size": null, "checksum": "f803c5c15bcf9a75935980a900a04584", "owner": "c289b99209ca4e189095cdecebbd092d", "created_at": "2024-01-16T02:17:43Z", "updated_at": "2024-01-20T01:01:35Z", "tags": [], "self": "/v2/images/1c868787-6207-4ff2-a1e7-ae1331d6829b", "file": "/v2/images/1c868787-6207-4ff2-a1e7-ae1331d6829b/file", "schema": "/v2/schemas/image", "os_type": "linux", "os_distro": "ubuntu", "os_version": "Server 22.04 LTS", "os_architecture": "amd64", "login_username": "ubuntu", "hypervisor_type": "qemu", "description": "Ubuntu Server 22.04 LTS (2024.01.16)"}], "schema": "/v2/schemas/images", "first": "/v2/images", "next": "/v2/images?marker=1c868787-6207-4ff2-a1e7-ae1331d6829b"}"""
    ),
    # network.md
    "neutron_error": json.loads(
        r"""{"NeutronError": {"type": "NetworkNotFound", "message": "Network 9a1e... could not be found.", "detail": ""}}"""
    ),
    # network.md
    "vpcs": json.loads(
        r"""{"vpcs": [{"router:external": true, "name": "public_network", "tenant_id": "e873d250f2ca40b78e2c12cfbaaeb740", "state": "available", "create_time": "2020-02-27 03:16:05", "cidrv4": "0.0.0.0/0", "shared": true, "id": "751b8227-7b45-440a-9349-dbf829d0aba5"}, {"router:external": false, "name": "Default Network", "tenant_id": "6cdebe3eb0094910bc41f1d42ebe4cb7", "state": "available", "create_time": "2023-01-16 07:20:11", "cidrv4": "192.168.0.0/16", "shared": false, "id": "245ff686-4ca2-4176-a069-81013537ac3a"}]}"""
    ),
    # network.md
    "vpc_get": json.loads(
        r"""{"vpc": {"router:external": false, "routingtables": [{"default_table": true, "id": "01ea946c-08d0-44fe-8e65-3c2cddfaa527", "name": "vpc-8a725559-671f"}], "name": "hcpak-network", "subnets": [{"router:external": false, "name": "vpc-subnet-2", "enable_dhcp": true, "tenant_id": "1fb0cf13afb341b699f74bbbecab2117", "gateway": "192.168.1.1", "routingtable": {"gateway_id": "4d6f3b31-f58d-4b39-9787-c1c39c6282ac", "default_table": true, "explicit": false, "id": "01ea946c-08d0-44fe-8e65-3c2cddfaa527", "name": "vpc-8a725559-671f"}, "routes": [], "state": "available", "create_time": "2023-01-16 07:24:01", "available_ip_count": 251, "vpc": {"shared": false, "state": "available", "id": "8a725559-671f-486f-96f0-8d77a21f6394", "cidrv4": "192.168.0.0/16", "name": "hcpak-network"}, "shared": false, "id": "8136b0e0-6360-4392-8947-48febf857cad", "vpc_id": "8a725559-671f-486f-96f0-8d77a21f6394", "hidden": false, "cidr": "192.168.1.0/24"}], "tenant_id": "1fb0cf13afb341b699f74bbbecab2117", "state": "available", "create_time": "2023-01-16 07:20:11", "cidrv4": "192.168.0.0/16", "shared": false, "id": "8a725559-671f-486f-96f0-8d77a21f6394"}}"""
    ),
    # network.md
    "vpc_create": json.loads(
        r"""{"vpc": {"name": "vpc-test1", "tenant_id": "1fb0cf13afb341b699f74bbbecab2117", "state": "available", "create_time": "2023-01-17 05:14:52.037777", "cidrv4": "10.10.0.0/16", "shared": false, "id": "88eb3d8b-32ef-46e4-85c4-8612ab544705"}}"""
    ),
    # network.md
    "vpcsubnets": json.loads(
        r"""{"vpcsubnets": [{"router:external": false, "name": "vpc-subnet-2", "tenant_id": "1fb0cf13afb341b699f74bbbecab2117", "state": "available", "id": "8136b0e0-6360-4392-8947-48febf857cad", "routingtable": {"gateway_id": "4d6f3b31-f58d-4b39-9787-c1c39c6282ac", "default_table": true, "explicit": false, "id": "01ea946c-08d0-44fe-8e65-3c2cddfaa527", "name": "vpc-8a725559-671f"}, "create_time": "2023-01-16 07:24:01", "available_ip_count": 251, "vpc": {"shared": false, "state": "available", "id": "8a725559-671f-486f-96f0-8d77a21f6394", "cidrv4": "192.168.0.0/16", "name": "hcpak-network"}, "vpc_id": "8a725559-671f-486f-96f0-8d77a21f6394", "routes": [{"subnet_id": "8136b0e0-6360-4392-8947-48febf857cad", "tenant_id": "1fb0cf13afb341b699f74bbbecab2117", "mask": 24, "gateway": "192.168.100.1", "cidr": "192.168.100.0/24", "id": "c7f7b8cb-e2f4-498d-9e66-c7cfef0dcdad"}], "shared": false, "cidr": "192.168.1.0/24", "gateway": "192.168.1.1"}]}"""
    ),
    # network.md
    "vpcsubnet_create": json.loads(
        r"""{"vpcsubnet": {"name": "vpc-subnet-1", "tenant_id": "1fb0cf13afb341b699f74bbbecab2117", "id": "bc6c7035-f9a7-4eea-a6c7-14c3036aa912", "state": "available", "create_time": "2023-01-17 05:39:28", "vpc_id": "b9f8e7b1-45e8-4eb5-95b2-7256dc60f7ff", "shared": false, "cidr": "10.3.0.0/24", "gateway": "10.3.0.1"}}"""
    ),
    # network.md
    "networks": json.loads(
        r"""{"networks": [{"status": "ACTIVE", "subnets": ["b83863ff-0355-4c73-8c10-0bdf66a69aab"], "name": "Default Network", "router:external": false, "tenant_id": "6cdebe3eb0094910bc41f1d42ebe4cb7", "admin_state_up": true, "mtu": 0, "shared": false, "port_security_enabled": true, "id": "245ff686-4ca2-4176-a069-81013537ac3a"}, {"name": "public_network", "id": "b04b1c31-f2e9-4ae0-a264-02b7d61ad618", "status": "ACTIVE", "shared": true, "subnets": ["6b3f7d6d-df61-4345-beb5-1621fd274659", "f22ae5cb-5e52-4704-9c31-83dc3826efb7"], "admin_state_up": true, "port_security_enabled": true, "router:external": true, "tenant_id": "e873d250f2ca40b78e2c12cfbaaeb740", "mtu": 0}]}"""
    ),
    # network.md
    "subnets": json.loads(
        r"""{"subnets": [{"name": "default", "enable_dhcp": true, "network_id": "245ff686-4ca2-4176-a069-81013537ac3a", "tenant_id": "6cdebe3eb0094910bc41f1d42ebe4cb7", "dns_nameservers": [], "gateway_ip": "192.168.0.1", "ipv6_ra_mode": null, "allocation_pools": [{"start": "192.168.0.2", "end": "192.168.0.254"}], "host_routes": [], "ip_version": 4, "ipv6_address_mode": null, "cidr": "192.168.0.0/24", "id": "b83863ff-0355-4c73-8c10-0bdf66a69aab", "subnetpool_id": null}]}"""
    ),
    # network.md
    "port": json.loads(
        r"""{"port": {"status": "ACTIVE", "name": "", "allowed_address_pairs": [], "admin_state_up": true, "network_id": "c46ee4e8-c9fa-462e-8a3b-55b1f11dd8f8", "tenant_id": "19eeb40d58684543aef29cbb5ebfe8f0", "extra_dhcp_opts": [], "binding:vnic_type": "normal", "device_owner": "compute:kr-pub-a", "mac_address": "fa:16:3e:1a:ed:34", "port_security_enabled": true, "fixed_ips": [{"subnet_id": "eb166bdf-dd99-4b02-ac8e-64be21dff2d5", "ip_address": "192.168.0.15"}], "id": "2a83bc25-ed76-4a2b-83b7-a4408aa99c4a", "security_groups": ["877b092c-2a31-4509-8d23-deeb02d95633"], "device_id": "10b9643d-9bc8-4b0f-a5dd-cfcb4033d70b"}}"""
    ),
    # network.md
    "floatingips": json.loads(
        r"""{"floatingips": [{"floating_network_id": "4b61db01-8183-4540-b2a3-47254a58298d", "router_id": null, "fixed_ip_address": null, "floating_ip_address": "133.186.242.214", "tenant_id": "19eeb40d58684543aef29cbb5ebfe8f0", "status": "DOWN", "port_id": null, "id": "fed3fcf6-59b1-4f43-93e5-23a47cb5452e", "delete_protection": false, "label": ""}]}"""
    ),
    # network.md
    "security_group": json.loads(
        r"""{"security_group": {"tenant_id": "19eeb40d58684543aef29cbb5ebfe8f0", "description": "security group for webservers", "id": "148cfc28-a58c-497f-aaab-c610bf7b5f18", "security_group_rules": [{"direction": "egress", "protocol": null, "description": null, "port_range_max": null, "id": "057e031a-ec2a-4bee-859a-6bc1d88c57d0", "remote_group_id": null, "remote_ip_prefix": null, "security_group_id": "148cfc28-a58c-497f-aaab-c610bf7b5f18", "tenant_id": "19eeb40d58684543aef29cbb5ebfe8f0", "port_range_min": null, "ethertype": "IPv4"}, {"direction": "egress", "protocol": null, "description": null, "port_range_max": null, "id": "cd37d4a7-75ac-4246-95cf-e93b37b75a9f", "remote_group_id": null, "remote_ip_prefix": null, "security_group_id": "148cfc28-a58c-497f-aaab-c610bf7b5f18", "tenant_id": "19eeb40d58684543aef29cbb5ebfe8f0", "port_range_min": null, "ethertype": "IPv6"}], "name": "webservers"}}"""
    ),
    # kubernetes.md
    "magnum_error": json.loads(
        r"""{"errors": [{"request_id": "", "code": "client", "status": 404, "title": "Cluster 5801ef8a-3760-4858-b467-fc4c1201241d could not be found", "detail": "Cluster 5801ef8a-3760-4858-b467-fc4c1201241d could not be found.", "links": []}]}"""
    ),
    # kubernetes.md
    "clusters": json.loads(
        r"""{"clusters": [{"uuid": "2b778d83-8b67-45b1-920e-b0c5ad5c2f30", "name": "k8s-test", "cluster_template_id": "b4503d97-6012-499d-a31a-5200f94a7890", "create_timeout": 60, "docker_volume_size": null, "flavor_id": "6ef27f21-c774-4c0e-84ff-7dd4a762571f", "keypair": "testkeypair", "node_count": 1, "stack_id": "7f497472-9729-4b89-9124-1c097335b856", "status": "CREATE_COMPLETE", "health_status": "HEALTHY", "labels": {"availability_zone": "kr2-pub-b", "cert_manager_api": "True", "clusterautoscale": "nodegroupfeature", "etcd_volume_size": "10", "external_network_id": "751b8227-7b45-440a-9349-dbf829d0aba5", "external_subnet_id_list": "59ddc195-76b1-431d-9693-f09880747dc6", "flavor_type": "core", "hypervisor_type": "qemu", "kube_tag": "v1.23.3", "login_username": "centos", "master_lb_floating_ip_enabled": "true", "strict_sg_rules": "True", "node_image": "f462a2a5-ba24-46d6-b7a1-9a9febcd3cfc", "os_arch": "amd64", "os_distro": "CentOS", "os_type": "linux", "os_version": "7.8", "project_domain": "NORMAL", "server_group_meta": "k8s_2b778d83-8b67-45b1-920e-b0c5ad5c2f30_561c3f55-a23f-4e1a-b2fa-a5459b2c0575", "service_cluster_ip_range": "10.254.0.0/16", "pods_network_cidr": "10.100.0.0/16", "pods_network_subnet": "24"}, "links": [{"href": "https://kr2-api-kubernetes-infrastructure.nhncloudservice.com/v1/clusters/2b778d83-8b67-45b1-920e-b0c5ad5c2f30", "rel": "self"}, {"href": "https://kr2-api-kubernetes-infrastructure.nhncloudservice.com/clusters/2b778d83-8b67-45b1-920e-b0c5ad5c2f30", "rel": "bookmark"}]}]}"""
    ),
    # kubernetes.md
    "cluster_get": json.loads(
        r"""{"uuid": "2b778d83-8b67-45b1-920e-b0c5ad5c2f30", "name": "test-k8s", "status": "CREATE_COMPLETE", "status_reason": null, "api_address": "https://2b778d83-kr2-k8s.container.cloud.toast.com:6443", "cluster_template_id": "b4503d97-6012-499d-a31a-5200f94a7890", "coe_version": "v1.23.3", "container_version": "1.12.6", "create_timeout": 60, "created_at": "2021-08-05T01:48:39+00:00", "updated_at": "2021-08-05T04:39:49+00:00", "docker_volume_size": null, "fixed_network": "eb212079-b6ec-430c-ba57-14280a457bcb", "fixed_subnet": "4fdf5b80-3d35-43f5-a5c1-010a3b6c8e90", "flavor_id": "6ef27f21-c774-4c0e-84ff-7dd4a762571f", "floating_ip_enabled": false, "health_status": "HEALTHY", "health_status_reason": {"api": "ok", "test-k8s-default-w-bnga636xulqk-node-0.Ready": "True"}, "keypair": "test-keypair", "labels": {"kube_tag": "v1.23.3", "availability_zone": "kr2-pub-b", "node_image": "f462a2a5-ba24-46d6-b7a1-9a9febcd3cfc", "cert_manager_api": "True", "master_lb_floating_ip_enabled": "true", "kube_version_status": "NEED_UPGRADE", "platform_version": "1.202511.0"}, "links": [{"href": "https://kr2-api-kubernetes-infrastructure.nhncloudservice.com/v1/clusters/2b778d83-8b67-45b1-920e-b0c5ad5c2f30", "rel": "self"}, {"href": "https://kr2-api-kubernetes-infrastructure.nhncloudservice.com/clusters/2b778d83-8b67-45b1-920e-b0c5ad5c2f30", "rel": "bookmark"}], "node_addresses": ["192.168.0.5"], "node_count": 1, "project_id": "1ffeaca9bbf94ab1aa9cffdec29a258a", "stack_id": "7f497472-9729-4b89-9124-1c097335b856", "user_id": "12ba32bebc414c4992a2c9be3952a64c"}"""
    ),
    # kubernetes.md
    "cluster_create_request": json.loads(
        r"""{"name": "test-k8s", "cluster_template_id": "iaas_console", "create_timeout": 60, "fixed_network": "eb212079-b6ec-430c-ba57-14280a457bcb", "fixed_subnet": "4fdf5b80-3d35-43f5-a5c1-010a3b6c8e90", "flavor_id": "6ef27f21-c774-4c0e-84ff-7dd4a762571f", "keypair": "test-keypair", "node_count": 1, "labels": {"kube_tag": "v1.32.3", "availability_zone": "kr2-pub-b", "node_image": "f462a2a5-ba24-46d6-b7a1-9a9febcd3cfc", "boot_volume_type": "General HDD", "boot_volume_size": "20", "cert_manager_api": "True", "master_lb_floating_ip_enabled": "true", "external_network_id": "751b8227-7b45-440a-9349-dbf829d0aba5", "external_subnet_id_list": "59ddc195-76b1-431d-9693-f09880747dc6", "ca_enable": "false", "ca_pod_replicas": "1", "ca_max_node_count": "10", "ca_min_node_count": "1", "ca_scale_down_enable": "true", "ca_scale_down_unneeded_time": "3", "ca_scale_down_util_thresh": "50", "ca_scale_down_delay_after_add": "3", "clusterautoscale": "nodegroupfeature", "strict_sg_rules": "True", "user_script_v2": "", "extra_security_groups": [{"target_subnet": "4fdf5b80-3d35-43f5-a5c1-010a3b6c8e90", "security_group_ids": "8669cca4-7904-4dc6-b1be-db49661cedb6"}], "extra_volumes": [{"volume_type": "General HDD", "volume_size": 100}]}, "addons": [{"name": "calico", "version": "v3.28.2-nks1", "options": {"mode": "vxlan"}}, {"name": "coredns", "version": "1.8.4-nks1"}]}"""
    ),
    # kubernetes.md
    "cluster_create": json.loads(r"""{"uuid": "5801ef8a-3760-4858-b467-fc4c1201241d"}"""),
    # kubernetes.md
    "cluster_config": json.loads(
        r"""{"config": "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRU...\n    server: https://96742ac4-kr2-k8s.container.cloud.toast.com:6443\n  name: \"test-k8s\"\ncontexts:\n- context:\n    cluster: \"test-k8s\"\n    user: admin\n  name: default\ncurrent-context: default\nkind: Config\npreferences: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: LS0tLS1CRU...\n    client-key-data: LS0tLS1CRU...\n"}"""
    ),
    # kubernetes.md
    "nodegroups": json.loads(
        r"""{"nodegroups": [{"uuid": "018b06c5-1293-4081-8242-167a1cb9f262", "name": "default-worker", "flavor_id": "069bdcff-e9b6-42c8-83ce-4c743ea30394", "image_id": "96aff4ab-d221-4688-8364-2fcf02d50547", "is_default": false, "max_node_count": 10, "min_node_count": 1, "node_count": 2, "role": "worker", "stack_id": "f04c157a-78e3-4bfc-a83e-fbe7c01ab616", "status": "UPDATE_COMPLETE"}]}"""
    ),
    # kubernetes.md
    "supports": json.loads(
        r"""{"supported_k8s": {"v1.28.3": false, "v1.29.3": true, "v1.30.3": true, "v1.31.4": true, "v1.32.3": true}, "supported_event_type": {"CLUSTER_CREATE": "Create a cluster", "CLUSTER_DELETE": "Delete a cluster", "CLUSTER_RESIZE": "Resize a cluster", "NODEGROUP_CREATE": "Create a node group", "NODEGROUP_DELETE": "Delete a node group", "NODEGROUP_UPGRADE": "Node group upgrade"}}"""
    ),
    # object-storage.md
    "swift_account_json": json.loads(
        r"""[{"name": "curl_example", "count": 3, "bytes": 148585, "last_modified": "2024-10-16T23:40:11.123450"}, {"name": "photos", "count": 0, "bytes": 0, "last_modified": "2024-10-17T01:02:03.000000"}]"""
    ),
    # object-storage.md
    "swift_container_json": json.loads(
        r"""[{"name": "ba6610.jpg", "hash": "bad093d7f49dc495751cb3f7f8b2530c", "bytes": 148585, "content_type": "image/jpeg", "last_modified": "2022-05-30T15:16:43.289700"}, {"name": "photos/2024/a.png", "hash": "9e107d9d372bb6826bd81d3542a419d6", "bytes": 2048, "content_type": "image/png", "last_modified": "2024-01-30T08:20:04.000000"}]"""
    ),
}
