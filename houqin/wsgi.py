import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "houqin.settings")
application = get_wsgi_application()

if not settings.DEBUG:  # with DEBUG (the development server) templates change under a running process
    from houqin.core.warmup import warm_up

    warm_up()
