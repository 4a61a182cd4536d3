"""The web chat adapter: an aiohttp server with a WebSocket endpoint and a small browser page."""
