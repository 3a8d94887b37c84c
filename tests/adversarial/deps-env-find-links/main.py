import acme_tokenizer
print(acme_tokenizer.split('a b c'))
