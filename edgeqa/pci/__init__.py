"""PCI pause: stop recording and analysing a call while a card number is given, audited."""
