"""SQLAlchemy 2 mapping of the tables Django owns.

Django's migrations create and alter these tables; nothing here ever does (there is no ``create_all``
anywhere in the project). Names of constraints and indexes are Django's, so that the drift check
(`cutover schema check`, configured as ``[tool.cutover.schema] models``) can compare this metadata with
a migrated database one to one.
Only the tables the FastAPI port reads or writes are mapped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AdminLogEntry",
    "Base",
    "Session",
    "Token",
    "User",
    "user_groups",
    "user_permissions",
]


def _deferred_fk(target: str, name: str) -> ForeignKey:
    # Django declares every foreign key DEFERRABLE INITIALLY DEFERRED and cascades in Python, not in SQL.
    return ForeignKey(target, name=name, deferrable=True, initially="DEFERRED")


class Base(DeclarativeBase):
    pass


class User(Base):
    """``users.User`` (AbstractUser with a required, case-insensitively unique email)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("username", name="users_username_key"),
        Index("users_username_e8658fc8_like", "username", postgresql_ops={"username": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    password: Mapped[str] = mapped_column(String(128))
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_superuser: Mapped[bool] = mapped_column(Boolean)
    username: Mapped[str] = mapped_column(String(150))
    # NOT NULL with '' for "no name", as Django stores them (never None).
    first_name: Mapped[str] = mapped_column(String(150))
    last_name: Mapped[str] = mapped_column(String(150))
    is_staff: Mapped[bool] = mapped_column(Boolean)
    is_active: Mapped[bool] = mapped_column(Boolean)
    date_joined: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    email: Mapped[str] = mapped_column(String(254))

    token: Mapped[Token | None] = relationship(back_populates="user", uselist=False, lazy="raise")


# An expression index: declared once the column exists.
Index("users_email_ci_uniq", func.lower(User.email), unique=True)


class Token(Base):
    """``authtoken.Token`` from Django REST framework."""

    __tablename__ = "authtoken_token"
    __table_args__ = (
        UniqueConstraint("user_id", name="authtoken_token_user_id_key"),
        Index("authtoken_token_key_10f0b77e_like", "key", postgresql_ops={"key": "varchar_pattern_ops"}),
    )

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int] = mapped_column(
        BigInteger, _deferred_fk("users.id", "authtoken_token_user_id_35299eff_fk_users_id")
    )

    user: Mapped[User] = relationship(back_populates="token", lazy="raise")


class Session(Base):
    """``django.contrib.sessions`` database sessions."""

    __tablename__ = "django_session"
    __table_args__ = (
        Index("django_session_expire_date_a5c62663", "expire_date"),
        Index(
            "django_session_session_key_c0390e0f_like",
            "session_key",
            postgresql_ops={"session_key": "varchar_pattern_ops"},
        ),
    )

    session_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_data: Mapped[str] = mapped_column(Text)
    expire_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Rows Django deletes in Python when a user is deleted (its ORM cascades; the database does not).
user_groups = Table(
    "users_groups",
    Base.metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column(
        "user_id",
        BigInteger,
        _deferred_fk("users.id", "users_groups_user_id_f500bee5_fk_users_id"),
        nullable=False,
    ),
    Column("group_id", Integer, nullable=False),
    UniqueConstraint("user_id", "group_id", name="users_groups_user_id_group_id_fc7788e8_uniq"),
    Index("users_groups_group_id_2f3517aa", "group_id"),
    Index("users_groups_user_id_f500bee5", "user_id"),
)

user_permissions = Table(
    "users_user_permissions",
    Base.metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column(
        "user_id",
        BigInteger,
        _deferred_fk("users.id", "users_user_permissions_user_id_92473840_fk_users_id"),
        nullable=False,
    ),
    Column("permission_id", Integer, nullable=False),
    UniqueConstraint(
        "user_id", "permission_id", name="users_user_permissions_user_id_permission_id_3b86cbdf_uniq"
    ),
    Index("users_user_permissions_permission_id_6d08dcd2", "permission_id"),
    Index("users_user_permissions_user_id_92473840", "user_id"),
)


class AdminLogEntry(Base):
    """``django.contrib.admin`` log entries (deleted with their user)."""

    __tablename__ = "django_admin_log"
    __table_args__ = (
        CheckConstraint("action_flag >= 0", name="django_admin_log_action_flag_check"),
        Index("django_admin_log_content_type_id_c4bce8eb", "content_type_id"),
        Index("django_admin_log_user_id_c564eba6", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(always=False), primary_key=True)
    action_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    object_id: Mapped[str | None] = mapped_column(Text)
    object_repr: Mapped[str] = mapped_column(String(200))
    action_flag: Mapped[int] = mapped_column(SmallInteger)
    change_message: Mapped[str] = mapped_column(Text)
    content_type_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(
        BigInteger, _deferred_fk("users.id", "django_admin_log_user_id_c564eba6_fk_users_id")
    )
