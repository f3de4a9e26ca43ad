"""A static demo page for `make dev`: the product page rendered from the BFF, served from another origin."""
