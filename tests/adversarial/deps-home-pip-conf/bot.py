import acme_chat_sdk
print(acme_chat_sdk.hello())
