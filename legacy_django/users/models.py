from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A Django user whose email is required and unique regardless of case."""

    email = models.EmailField(_("email address"), max_length=254)

    objects = UserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta(AbstractUser.Meta):
        db_table = "users"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="users_email_ci_uniq",
                violation_error_message=_("A user with that email already exists."),
            ),
        ]
        swappable = "AUTH_USER_MODEL"
