"""OpenAI's Batch API (and the APIs that copy its wire format: Azure OpenAI v1, Groq, self-hosted
servers): ``client/`` speaks it over httpx, ``server/`` emulates it in the local test server."""
