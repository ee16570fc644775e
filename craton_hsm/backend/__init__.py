"""Thin adapters over pyca/cryptography: the only importer of it (STYLE
R5).  Errors from the library become typed CKR errors here."""
