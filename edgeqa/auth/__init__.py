"""Access control: tokens with roles, browser sessions, and who may see or act on which call."""
