"""Routing hints on the switch (issue 13): the FastAGI ``route`` handler (service.py) decides
QUEUE_PRIO, the queue and an agent to offer first (model.py) from [route] rules (config.py)
and the caller history the store keeps (history.py)."""
