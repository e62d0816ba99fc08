from rest_framework.pagination import LimitOffsetPagination


class CatalogPagination(LimitOffsetPagination):
    """``?limit=&offset=``: 10 a page unless asked, never more than 50."""

    default_limit = 10
    max_limit = 50
