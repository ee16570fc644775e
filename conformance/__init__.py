"""Black-box runs against the built libcraton_hsm.so."""
