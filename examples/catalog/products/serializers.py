from __future__ import annotations

from rest_framework import serializers

from .models import Category, Product, Tag


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug", "description"]


class CategorySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug"]


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "slug"]


class ProductSerializer(serializers.ModelSerializer):
    """A product as clients read it (its category and tags spelled out) and write it (by slugs)."""

    category = CategorySummarySerializer(read_only=True)
    tags = TagSerializer(many=True, read_only=True)
    category_slug = serializers.SlugRelatedField(
        source="category", slug_field="slug", queryset=Category.objects.all(), write_only=True
    )
    tag_slugs = serializers.SlugRelatedField(
        source="tags",
        slug_field="slug",
        queryset=Tag.objects.all(),
        many=True,
        write_only=True,
        required=False,
    )
    created_by = serializers.ReadOnlyField(source="created_by.username")

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "price",
            "stock",
            "is_active",
            "category",
            "category_slug",
            "tags",
            "tag_slugs",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
