import tokenizers
