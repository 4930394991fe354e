"""DRF's token authentication with its lookup as one plain query: it runs on every API request,
and the ORM's select_related built for it cost more than the query itself."""
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

USER_BY_TOKEN_SQL = "SELECT u.* FROM {users} u JOIN authtoken_token t ON t.user_id = u.id WHERE t.key = %s"


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str):
        users = get_user_model()
        user = next(iter(users.objects.raw(USER_BY_TOKEN_SQL.format(users=users._meta.db_table), [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, key
