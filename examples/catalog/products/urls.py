from rest_framework.routers import DefaultRouter

from .views import CategoryViewSet, ProductViewSet, TagViewSet

# Path converters (<slug:slug>, <int:pk>) rather than regular expressions: /api/products/abc/ is no URL
# of ours at all, not a product lookup that fails.
router = DefaultRouter(use_regex_path=False)
router.register("categories", CategoryViewSet, basename="category")
router.register("tags", TagViewSet, basename="tag")
router.register("products", ProductViewSet, basename="product")

urlpatterns = router.urls
