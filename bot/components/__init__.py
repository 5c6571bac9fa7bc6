"""Custom Rasa components. Importing the package registers the store's vocabulary with jieba.

Rasa imports this package while reading config.yml, before training or serving tokenises anything, so
training and serving segment Chinese text the same way (e.g. 充电宝 stays one token, not 充电 / 宝要).
"""

from common.tokenizer_vocabulary import load_store_vocabulary

load_store_vocabulary()
