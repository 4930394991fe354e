"""The shell page of the browser app (frontend/src): every screen is rendered in the browser from
the REST API; the page only carries who is signed in and the built assets."""
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie

from cardiocrowd.accounts.models import Membership

from .templatetags.vite import AppNotBuilt, vite_entry


def home(request: HttpRequest) -> HttpResponse:
    return redirect("app")


@login_required
@ensure_csrf_cookie
def app(request: HttpRequest, path: str = "") -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("project").order_by("project__slug")
    bootstrap = {
        "user": {"username": request.user.get_username(), "is_staff": request.user.is_staff},
        "projects": [{"slug": m.project.slug, "name": m.project.name, "role": m.role, "senior": m.senior}
                     for m in memberships],
        "csrf_token": get_token(request),
    }
    try:
        assets, not_built = vite_entry(), ""
    except AppNotBuilt as error:
        assets, not_built = "", str(error)
    return render(request, "frontend/app.html", {"bootstrap": bootstrap, "assets": assets, "not_built": not_built},
                  status=200 if assets else 503)
