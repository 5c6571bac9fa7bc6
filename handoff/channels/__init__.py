"""The customer channels, one package each (`widget`, `rest`, `telegram`: inbound parsing, outbound
delivery, settings where the channel has its own, and the Sanic blueprint in `routes`), and `base`, the
adapter interface they share."""
