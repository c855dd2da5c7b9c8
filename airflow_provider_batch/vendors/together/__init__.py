"""Together AI's Batch API, the first vendor: ``client/`` speaks it over httpx, ``server/`` emulates
it in the local test server, and :mod:`.vendor` binds them to the vendor contract."""
