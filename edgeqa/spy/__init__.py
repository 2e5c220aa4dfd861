"""Supervisor listen / whisper / barge (issue 11): who may spy on whom, and doing it on the
switch through AGI + ChanSpy, audited."""
