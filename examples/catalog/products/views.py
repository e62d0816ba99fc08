from __future__ import annotations

from rest_framework import permissions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .models import Category, Product, Tag
from .permissions import IsOwnerOrStaffOrReadOnly, IsStaffOrReadOnly
from .serializers import CategorySerializer, ProductSerializer, TagSerializer


def products_for(request: Request):
    return (
        Product.objects.visible_to(request.user)
        .select_related("category", "created_by")
        .prefetch_related("tags")
    )


class CategoryViewSet(viewsets.ModelViewSet):
    queryset = Category.objects.all()
    serializer_class = CategorySerializer
    permission_classes = [IsStaffOrReadOnly]
    lookup_field = "slug"
    lookup_value_converter = "slug"

    @action(detail=True, methods=["get"])
    def products(self, request: Request, slug: str | None = None) -> Response:
        """The category's products, paginated like the product list."""
        category = self.get_object()
        page = self.paginate_queryset(products_for(request).filter(category=category))
        serializer = ProductSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)


class TagViewSet(viewsets.ModelViewSet):
    queryset = Tag.objects.all()
    serializer_class = TagSerializer
    permission_classes = [IsStaffOrReadOnly]
    lookup_field = "slug"
    lookup_value_converter = "slug"


class ProductViewSet(viewsets.ModelViewSet):
    """The catalog. ``?category=<slug>`` and ``?tag=<slug>`` narrow the list."""

    serializer_class = ProductSerializer
    permission_classes = [permissions.IsAuthenticatedOrReadOnly, IsOwnerOrStaffOrReadOnly]
    lookup_value_converter = "int"

    def get_queryset(self):
        queryset = products_for(self.request)
        if self.action == "list":
            category = self.request.query_params.get("category")
            if category:
                queryset = queryset.filter(category__slug=category)
            tag = self.request.query_params.get("tag")
            if tag:
                queryset = queryset.filter(tags__slug=tag)
        return queryset

    def perform_create(self, serializer: ProductSerializer) -> None:
        serializer.save(created_by=self.request.user)
