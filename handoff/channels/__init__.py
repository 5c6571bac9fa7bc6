"""Channel adapters: how messages reach customers on each channel (widget, REST, Telegram, ...)."""
