"""The core: tokens, sessions, objects and their attribute rules."""
