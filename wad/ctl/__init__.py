"""wadctl: the control socket's command-line client."""
