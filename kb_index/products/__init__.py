"""The store's product catalogue (data/catalog/products.yml): loading and validation (`catalog`), reading a
budget from a message (`budget`), and finding products and their attributes by meaning (`search`).

Importing this package loads no model: search embeds the catalogue on first use, through the encoder the
knowledge base serves for the language.
"""
