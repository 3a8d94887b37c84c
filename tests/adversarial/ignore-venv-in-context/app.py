import acme_vendor
print(acme_vendor.NAME)
