"""A URLconf unlike the demo's, for ``cutover init``: every converter, a registered custom one, re_path
regexes (an optional trailing slash, a back-reference nginx cannot follow), nested namespaced includes,
class-based and function views, and a DRF DefaultRouter (extra actions, format suffixes, its API root, a
``lookup_field`` other than the primary key)."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import include, path, re_path, register_converter
from django.views import View
from rest_framework import viewsets
from rest_framework.decorators import action, api_view
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter


class FourDigitYear:
    regex = "[0-9]{4}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: object) -> str:
        return f"{int(str(value)):04d}"


register_converter(FourDigitYear, "yyyy")


def plain(request, **kwargs):
    return HttpResponse("ok")


class BlogPost(View):
    """One blog post, by its slug.

    Only GET and POST: the view says so."""

    def get(self, request, slug):
        return HttpResponse(slug)

    def post(self, request, slug):
        return HttpResponse(slug)


class BlogDraft(BlogPost):
    pass


@api_view(["GET", "DELETE"])
def tag(request, name):
    """A tag by its name."""
    return Response({"name": name})


class ThingViewSet(viewsets.ViewSet):
    """Things: a list, one thing, and what can be done to one."""

    def list(self, request, format=None):
        return Response([])

    def retrieve(self, request, pk=None, format=None):
        return Response({"pk": pk})

    def destroy(self, request, pk=None, format=None):
        return Response(status=204)

    @action(detail=True, methods=["post"], url_path="polish")
    def polish(self, request, pk=None, format=None):
        """Polish one thing."""
        return Response({"polished": pk})


class ArticleViewSet(viewsets.ViewSet):
    """Articles, looked up by their slug."""

    lookup_field = "slug"

    def list(self, request, format=None):
        return Response([])

    def retrieve(self, request, slug=None, format=None):
        return Response({"slug": slug})


router = DefaultRouter()
router.register("things", ThingViewSet, basename="thing")
router.register("articles", ArticleViewSet, basename="article")

deep = [path("ping/", plain, name="ping"), path("echo/<int:n>/", plain, name="echo")]
v2 = [path("deep/", include((deep, "deep"), namespace="deep")), path("status/", plain, name="status")]

urlpatterns = [
    path("articles/<int:year>/", plain, name="article-year"),
    path("articles/<yyyy:year>/archive/", plain, name="article-archive"),
    path("blog/<slug:slug>/", BlogPost.as_view(), name="blog-post"),
    path("drafts/<slug:slug>/", BlogDraft.as_view(), name="blog-draft"),
    path("files/<path:rest>", plain, name="file"),
    path("items/<uuid:id>/", plain, name="item"),
    path("tags/<str:name>/", tag, name="tag"),
    path("about/", plain),
    re_path(r"^legacy/(?P<code>[A-Z]{3})/?$", plain, name="legacy-code"),
    re_path(r"^twice/(?P<a>[a-z]+)/(?P=a)/$", plain, name="twice"),
    path("v2/", include((v2, "v2"), namespace="v2")),
    path("api/", include(router.urls)),
]
