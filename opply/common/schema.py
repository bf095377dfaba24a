"""OpenAPI glue: teach drf-spectacular about our authentication class."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class BearerJWTScheme(SimpleJWTScheme):
    target_class = "opply.common.authentication.JWTAuthentication"
    name = "jwtAuth"
