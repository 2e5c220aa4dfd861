"""Quality-driven routing hints (issue 13): queue penalties and coaching pauses over AMI."""
