"""The admin control protocol on a Unix socket."""
