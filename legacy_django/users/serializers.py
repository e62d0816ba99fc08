from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework import serializers

from .models import User

DUPLICATE_EMAIL = "A user with that email already exists."


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True, style={"input_type": "password"}, trim_whitespace=False, max_length=128
    )
    email = serializers.EmailField(max_length=254)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "password",
            "first_name",
            "last_name",
            "is_active",
            "is_staff",
            "date_joined",
            "last_login",
        ]
        read_only_fields = ["id", "is_active", "is_staff", "date_joined", "last_login"]

    def validate_email(self, value: str) -> str:
        value = User.objects.normalize_email(value)
        others = User.objects.filter(email__iexact=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError(DUPLICATE_EMAIL)
        return value

    def validate(self, attrs):
        password = attrs.get("password")
        if password is not None:
            # The similarity validator compares against the user's attributes as they will be saved.
            candidate = User(**{k: v for k, v in attrs.items() if k != "password"})
            if self.instance is not None:
                for field in ("username", "email", "first_name", "last_name"):
                    if field not in attrs:
                        setattr(candidate, field, getattr(self.instance, field))
            try:
                password_validation.validate_password(password, candidate)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs

    def create(self, validated_data):
        password = validated_data.pop("password")
        user = User(**validated_data)
        user.set_password(password)
        return self._save(user)

    def update(self, instance, validated_data):
        password = validated_data.pop("password", None)
        for field, value in validated_data.items():
            setattr(instance, field, value)
        if password is not None:
            instance.set_password(password)
        return self._save(instance)

    @staticmethod
    def _save(user: User) -> User:
        # The check in validate_email can race with a concurrent sign-up; the database index decides.
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:
            # The constraint's name from the driver: the message also quotes the values, and a username
            # may spell an index's name.
            constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
            if constraint == "users_email_ci_uniq":
                raise serializers.ValidationError({"email": [DUPLICATE_EMAIL]}) from exc
            if constraint == "users_username_key":
                raise serializers.ValidationError(
                    {"username": ["A user with that username already exists."]}
                ) from exc
            raise
        return user
