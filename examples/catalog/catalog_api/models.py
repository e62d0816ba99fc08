"""SQLAlchemy 2 mapping of the tables the port reads and writes.

Django's migrations own these tables (``products/migrations``, ``django.contrib.auth``); nothing here
creates or alters them. Constraint and index names are the ones Django's schema editor generated, so
``cutover schema check`` (``[schema] models`` in cutover.toml) compares this mapping with a migrated
database one to one. ``auth_user`` is mapped only as far as JWT authentication and the product
representation need it, but with every column: the drift check compares whole tables.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

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
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "Category", "Product", "Tag", "User", "product_tags"]


def _deferred_fk(target: str, name: str) -> ForeignKey:
    # Django declares every foreign key DEFERRABLE INITIALLY DEFERRED and cascades in Python, not in SQL.
    return ForeignKey(target, name=name, deferrable=True, initially="DEFERRED")


def _like(name: str, column: str) -> Index:
    # The index Django adds beside a unique varchar for LIKE 'prefix%' lookups.
    return Index(name, column, postgresql_ops={column: "varchar_pattern_ops"})


class Base(DeclarativeBase):
    pass


class User(Base):
    """``django.contrib.auth.models.User`` (the default user model: integer ids)."""

    __tablename__ = "auth_user"
    __table_args__ = (
        UniqueConstraint("username", name="auth_user_username_key"),
        _like("auth_user_username_6821ab7c_like", "username"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(always=False), primary_key=True)
    password: Mapped[str] = mapped_column(String(128))
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_superuser: Mapped[bool] = mapped_column(Boolean)
    username: Mapped[str] = mapped_column(String(150))
    first_name: Mapped[str] = mapped_column(String(150))
    last_name: Mapped[str] = mapped_column(String(150))
    email: Mapped[str] = mapped_column(String(254))
    is_staff: Mapped[bool] = mapped_column(Boolean)
    is_active: Mapped[bool] = mapped_column(Boolean)
    date_joined: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Category(Base):
    __tablename__ = "products_category"
    __table_args__ = (
        UniqueConstraint("slug", name="products_category_slug_key"),
        _like("products_category_slug_c558efae_like", "slug"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)


class Tag(Base):
    __tablename__ = "products_tag"
    __table_args__ = (
        UniqueConstraint("name", name="products_tag_name_key"),
        UniqueConstraint("slug", name="products_tag_slug_key"),
        _like("products_tag_name_df2d816e_like", "name"),
        _like("products_tag_slug_5def095b_like", "slug"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    slug: Mapped[str] = mapped_column(String(50))


# The many-to-many table Django creates for Product.tags (its own id, a unique pair).
product_tags = Table(
    "products_product_tags",
    Base.metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column(
        "product_id",
        BigInteger,
        _deferred_fk("products_product.id", "products_product_tag_product_id_f82cb4be_fk_products_"),
        nullable=False,
    ),
    Column(
        "tag_id",
        BigInteger,
        _deferred_fk("products_tag.id", "products_product_tags_tag_id_f2d7d0b4_fk_products_tag_id"),
        nullable=False,
    ),
    UniqueConstraint("product_id", "tag_id", name="products_product_tags_product_id_tag_id_a36d84e8_uniq"),
    Index("products_product_tags_product_id_f82cb4be", "product_id"),
    Index("products_product_tags_tag_id_f2d7d0b4", "tag_id"),
)


class Product(Base):
    __tablename__ = "products_product"
    __table_args__ = (
        UniqueConstraint("slug", name="products_product_slug_key"),
        CheckConstraint("stock >= 0", name="products_product_stock_check"),
        _like("products_product_slug_70d3148d_like", "slug"),
        Index("products_product_category_id_9b594869", "category_id"),
        Index("products_product_created_by_id_dd4af40e", "created_by_id"),
        Index("product_category_active_idx", "category_id", "is_active"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    stock: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    category_id: Mapped[int] = mapped_column(
        BigInteger,
        _deferred_fk("products_category.id", "products_product_category_id_9b594869_fk_products_category_id"),
    )
    created_by_id: Mapped[int | None] = mapped_column(
        Integer, _deferred_fk("auth_user.id", "products_product_created_by_id_dd4af40e_fk_auth_user_id")
    )

    # lazy="raise": every load is explicit (an implicit lazy load would be blocking I/O under asyncio).
    category: Mapped[Category] = relationship(lazy="raise")
    created_by: Mapped[User | None] = relationship(lazy="raise")
    # Tag.Meta.ordering = ["name"]: Django orders product.tags.all() by name.
    tags: Mapped[list[Tag]] = relationship(secondary=product_tags, order_by=Tag.name, lazy="raise")
