"""The shell page. The labeling, review and design screens (issue 5) mount here."""
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cardiocrowd.accounts.models import Membership


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("project").order_by("project__slug")
    return render(request, "frontend/home.html", {"memberships": memberships})
