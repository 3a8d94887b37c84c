import tinygreet
conf = dict(l.strip().split('=', 1) for l in open('/etc/greet.conf'))
print(f"{tinygreet.hello()} ({conf['greeting']})")
