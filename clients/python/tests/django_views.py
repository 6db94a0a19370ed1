"""Views and URLs of the test Django project (django_settings.py)."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path

from authbridge.django import AuthenticatedRequest, session_required


@session_required
def me(request: AuthenticatedRequest) -> JsonResponse:
    session, user = request.auth_session, request.auth_user
    assert session is not None and user is not None
    return JsonResponse({"userId": user.id, "sessionId": session.id, "expires": session.expires.isoformat()})


def home(request: AuthenticatedRequest) -> JsonResponse:
    return JsonResponse({"signedIn": request.auth_user is not None})


urlpatterns = [path("me", me), path("home", home)]
