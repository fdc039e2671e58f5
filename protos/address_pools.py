"""Address ranges the cluster itself uses: a host's container subnet must overlap none of them."""
from __future__ import annotations

import ipaddress

# Overlay networks' subnets: the next free /24 of this, unless `network create --subnet` says.
OVERLAY_POOL = ipaddress.ip_network("10.240.0.0/12")
# Widest and narrowest container subnet a host may have routed to it (IPv4 prefix lengths).
WIDEST_HOST_SUBNET = 16
NARROWEST_HOST_SUBNET = 30
