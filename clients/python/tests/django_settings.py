"""The smallest Django project that serves the middleware and the decorator (test_django.py).

AUTHBRIDGE_URL and AUTHBRIDGE_API_KEY are set per test with override_settings, since the
server's port is known only once it runs.
"""

SECRET_KEY = "django-test-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "django_views"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
MIDDLEWARE = ["authbridge.django.AuthBridgeMiddleware"]
AUTHBRIDGE_URL = "http://127.0.0.1:9"  # replaced per test
AUTHBRIDGE_API_KEY = ""
AUTHBRIDGE_TIMEOUT = 5.0
