"""URLs of the peer project: the message templates reverse the newsletter's unsubscribe URL."""

from django.urls import include, path

urlpatterns = [path("newsletter/", include("newsletter.urls"))]
