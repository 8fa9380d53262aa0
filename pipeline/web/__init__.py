"""The web parts: the review page (`kaigiroku review`), its edits and saving, the static files.

Served on loopback by kaigiroku itself; no CDN (the clerks' PCs may be on a closed network).
Stage modules never import from here: the page is a client of their data, not a part of them.
"""
