from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("app/", views.app, name="app"),
    re_path(r"^app/(?P<path>.+)$", views.app, name="app-screen"),  # the browser app routes the rest
    path("accounts/login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
