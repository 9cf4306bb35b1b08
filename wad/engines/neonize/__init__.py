"""The neonize engine: the daemon's side (``engine``, ``placement``) and the worker's
(``worker``, ``golock``, ``bridge``, ``commands``, ``messages``)."""

#: The proxy URL (``http://...`` or ``socks5://...``) for WhatsApp's servers: the daemon
#: reads it from its environment at each link and sends it to the worker in ``open``,
#: never on a command line, which any local user can read.
PROXY_ENV = "WAD_WORKER_PROXY"
