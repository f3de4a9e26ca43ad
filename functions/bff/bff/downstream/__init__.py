"""The outbound edge: HTTP client, transport, egress allow-list, signing and header propagation."""
