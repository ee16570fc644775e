"""Token backup archives (issue 4, "Backup and restore").

``container`` is the encrypted, authenticated file format;
``archive`` takes an online, consistent snapshot of a slot's SQLite
token file and restores one.  Both work on files, not through PKCS#11:
a backup must carry the token exactly as stored (sealed secrets,
wrapped master keys, PIN records), which no PKCS#11 call can export.
"""
