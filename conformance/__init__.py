"""Black-box conformance runs against build/libcraton_hsm.so."""
