"""The ABI shell: the only code that touches cffi cdata.

Everything here runs inside build/libcraton_hsm.so, where the cffi module
``_craton_hsm_abi`` exists; importing it elsewhere fails by design.
"""
