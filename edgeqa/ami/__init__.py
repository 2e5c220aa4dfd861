"""Asterisk Manager Interface: a sans-I/O codec (protocol.py) and an asyncio client (client.py)."""
