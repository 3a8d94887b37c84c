#!/bin/sh
set -e
python manage.py migrate
exec gunicorn mysite.wsgi -b 0.0.0.0:8000
